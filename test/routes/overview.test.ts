import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFeatures } from '../../src/db/queries/features.ts';
import { createFormat } from '../../src/format.ts';
import { featureSummaries, monthToDateSpend } from '../../src/metrics/summaries.ts';
import { OVERVIEW_ROWS } from '../../src/pages/overview.ts';
import type { TestContext } from '../setup/app.ts';
import { makeAssignment, makeFeature } from '../setup/factories.ts';
import { fragment, hx, text } from '../setup/html.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { insertUsage, MINUTE, type ModelRef } from '../setup/usage-factory.ts';
import { type Features, featureRow, OVERVIEW, openFeatures, PATH, use } from './features/setup.ts';

// The overview, /platform/ai-management: a row per feature with its production model, its 24 h
// figures and its spend this month; the total; the features over their thresholds.

const fmt = createFormat('UTC');

// A database of the file's own: what the table leaves out (issue 19: at most OVERVIEW_ROWS rows) is
// the file's to know, whatever other files add meanwhile.
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let c: Features;
let t: TestContext;
let mini: ModelRef;
beforeAll(async () => {
  own = await ownSeededDatabase('overview');
  c = await openFeatures(own.db);
  ({ t, mini } = c);
});
afterAll(async () => {
  await c?.close();
  await own?.drop();
});

/** Up to 30 minutes ago, and still in this month and this day (UTC). */
function minutesAgoThisMonth() {
  const monthStart = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
  return Math.max(0, Math.min(30, Math.floor((Date.now() - monthStart) / MINUTE) - 1));
}

describe('GET /platform/ai-management', () => {
  it('when features have usage, then each row shows its production model, 24 h figures and month spend, the total is their sum and breaches are listed', async () => {
    const minutesAgo = minutesAgoThisMonth();
    const hot = await makeFeature(t.db, { error_rate_threshold: 10, monthly_budget_usd: 0.01 });
    const calm = await makeFeature(t.db, { monthly_budget_usd: 100 });
    await makeAssignment(t.db, { feature_id: hot.id, model_id: mini.id, environment: 'production' });
    const pricey = { input_cost_units: 1_000_000, output_cost_units: 1_000_000 }; // $0.02 each
    await insertUsage(t.db, [
      use(hot, mini, minutesAgo, pricey),
      use(hot, mini, minutesAgo, { ...pricey, status: 'error' }),
      use(calm, mini, minutesAgo),
      // A slow, failing staging trial: neither its requests nor its errors count in production's figures.
      use(hot, mini, minutesAgo, {
        environment: 'staging',
        status: 'error',
        response_time_ms: 60_000,
        input_cost_units: 0,
        output_cost_units: 0,
      }),
    ]);
    const ids = async () => (await listFeatures(t.db)).map((f) => f.id);
    const totalBefore = [...(await monthToDateSpend(t.db, await ids(), new Date())).current.values()].reduce((a, b) => a + b, 0);
    const $ = await c.page(OVERVIEW);
    const now = new Date();
    const spend = await monthToDateSpend(t.db, await ids(), now);
    const day = await featureSummaries(t.db, [await featureRow(t, hot.id), await featureRow(t, calm.id)], '24h', now, 'production');
    for (const f of [hot, calm]) {
      const row = $(`#features tr[data-feature="${f.name}"]`);
      const s = day.get(f.id)!;
      expect(['requests', 'error_rate', 'p95', 'spend'].map((c) => text(row.find(`[data-col="${c}"]`)))).toEqual([
        fmt.integer(s.total_requests),
        fmt.percent(s.error_rate, 2),
        fmt.ms(s.p95),
        fmt.usd(spend.current.get(f.id)),
      ]);
    }
    expect(text($(`#features tr[data-feature="${hot.name}"] td`).eq(1))).toBe(mini.display_name);
    expect(text($(`#features tr[data-feature="${calm.name}"] td`).eq(1))).toBe('No model assigned');
    expect(spend.current.get(hot.id)).toBeCloseTo(0.04, 8);
    expect($(`#features tr[data-feature="${hot.name}"]`).hasClass('breach')).toBe(true);
    const totalAfter = [...spend.current.values()].reduce((a, b) => a + b, 0);
    expect([fmt.usd(totalBefore), fmt.usd(totalAfter)]).toContain(text($('[data-metric="month_spend"] strong')));
    const alerts = $('#alerts li')
      .toArray()
      .filter((li) => [hot.name, calm.name].includes($(li).attr('data-feature')!))
      .map((li) => [$(li).attr('data-feature'), $(li).attr('data-breach'), text($(li))]);
    expect(text($(`#features tr[data-feature="${hot.name}"] [data-col="requests"]`)), 'the staging request is left out').toBe('2');
    expect(alerts).toEqual([
      [hot.name, 'error_rate', 'Test feature: error rate 50.00% over 24 h in production, threshold 10.00%'],
      [hot.name, 'budget', 'Test feature: spent $0.04 this month, budget $0.01'],
    ]);
  });

  it('when there are at most 20 features, then every feature has a row with its production model and figures', async () => {
    // A feature of the test's own with a production model and a request this month, next to the reference features.
    const served = await makeFeature(t.db);
    await makeAssignment(t.db, { feature_id: served.id, model_id: mini.id, environment: 'production' });
    await insertUsage(t.db, [use(served, mini, minutesAgoThisMonth(), { response_time_ms: 420, input_cost_units: 500_000 })]);
    const existing = await listFeatures(t.db);
    const $ = await c.page(OVERVIEW, c.viewer);
    const now = new Date();
    const listed = $('#features tr[data-feature]')
      .toArray()
      .map((tr) => $(tr).attr('data-feature'));
    expect(existing.length).toBeLessThanOrEqual(OVERVIEW_ROWS);
    expect(listed).toEqual(expect.arrayContaining(existing.map((f) => f.name)));
    expect($('#more-features').text()).not.toContain('more features');
    // The reference features (no traffic in this database) and the test's own, against the metrics service.
    const checked = existing.filter((f) => ['photo-tagging', 'chatbot', 'ai-search', served.name].includes(f.name));
    expect(checked).toHaveLength(4);
    const day = await featureSummaries(t.db, checked, '24h', now, 'production');
    const spend = await monthToDateSpend(
      t.db,
      checked.map((f) => f.id),
      now,
    );
    const production = new Map<string, string>(
      (
        await t
          .db('feature_model_assignments as a')
          .join('ai_models as m', 'm.id', 'a.model_id')
          .where({ 'a.environment': 'production', 'a.is_active': true })
          .whereIn(
            'a.feature_id',
            checked.map((f) => f.id),
          )
          .select('a.feature_id', 'm.display_name')
      ).map((r: { feature_id: string; display_name: string }) => [r.feature_id, r.display_name]),
    );
    for (const f of checked) {
      const row = $(`#features tr[data-feature="${f.name}"]`);
      const s = day.get(f.id)!;
      expect(text(row.find('td').eq(1)), f.name).toBe(production.get(f.id) ?? 'No model assigned');
      expect(
        ['requests', 'error_rate', 'p95', 'spend'].map((col) => text(row.find(`[data-col="${col}"]`))),
        f.name,
      ).toEqual([fmt.integer(s.total_requests), fmt.percent(s.error_rate, 2), fmt.ms(s.p95), fmt.usd(spend.current.get(f.id))]);
    }
    const own = $(`#features tr[data-feature="${served.name}"]`);
    expect([text(own.find('td').eq(1)), text(own.find('[data-col="requests"]')), text(own.find('[data-col="p95"]'))]).toEqual([
      mini.display_name,
      '1',
      '420 ms',
    ]);
    expect($('.notice')).toHaveLength(0);
  });

  it('when there are more than 20 features, then the table shows 20, those that need attention first, then the busiest, and says how many more', async () => {
    const minutesAgo = minutesAgoThisMonth();
    const busy = [];
    for (let i = 0; i < OVERVIEW_ROWS + 5; i++) busy.push(await makeFeature(t.db));
    // Quiet but over its own error-rate threshold: it comes before every busier feature that is fine.
    const quiet = await makeFeature(t.db, { error_rate_threshold: 10 });
    await insertUsage(t.db, [
      ...busy.flatMap((f, i) => Array.from({ length: 3 + i }, () => use(f, mini, minutesAgo, { response_time_ms: 100 }))),
      use(quiet, mini, minutesAgo, { status: 'error', response_time_ms: 100 }),
    ]);
    const all = await listFeatures(t.db);
    const $ = await c.page(OVERVIEW);
    const rows = $('#features tr[data-feature]').toArray();
    const listed = rows.map((tr) => $(tr).attr('data-feature')!);
    expect(listed).toHaveLength(OVERVIEW_ROWS);
    const firstFine = rows.findIndex((tr) => $(tr).attr('data-attention') === undefined);
    expect(listed.indexOf(quiet.name)).toBeGreaterThanOrEqual(0);
    expect(listed.indexOf(quiet.name)).toBeLessThan(firstFine);
    expect(rows.slice(firstFine).every((tr) => $(tr).attr('data-attention') === undefined)).toBe(true);
    const requests = rows.slice(firstFine).map((tr) => Number(text($(tr).find('[data-col="requests"]')).replace(/,/g, '')));
    expect(requests).toEqual([...requests].sort((a, b) => b - a));
    expect(listed).toContain(busy.at(-1)!.name); // the busiest
    expect(listed).not.toContain(busy[0].name); // the quietest of them, fine, is left out
    expect(text($('#more-features'))).toContain(`${all.length - OVERVIEW_ROWS} more features — see all`);
    expect($('#more-features a:contains("see all")').attr('href')).toBe(PATH);
  });

  it("when exported as CSV, then every feature has its row in the table's order, and the headline figures count them all", async () => {
    const all = await listFeatures(t.db);
    expect(all.length).toBeGreaterThan(OVERVIEW_ROWS);
    const $ = await c.page(OVERVIEW);
    const res = await c.admin.agent
      .get(`${OVERVIEW}?format=csv`)
      .expect(200)
      .expect('content-type', /text\/csv/);
    const [header, ...lines] = res.text.trim().split('\r\n');
    expect(header).toBe(
      'feature,display_name,status,production_model,requests_24h,error_rate_pct,p95_ms,month_spend_usd,alerts_firing,breaches',
    );
    const csv = lines.map((l) => l.split(','));
    expect(csv.map((r) => r[0]).sort()).toEqual(all.map((f) => f.name).sort());
    const listed = $('#features tr[data-feature]')
      .toArray()
      .map((tr) => $(tr).attr('data-feature'));
    expect(csv.slice(0, OVERVIEW_ROWS).map((r) => r[0])).toEqual(listed);
    const breaching = csv.filter((r) => r[9] !== '').length;
    expect(breaching).toBeGreaterThan(0);
    expect(text($('[data-metric="breaching"] strong'))).toBe(`${breaching} of ${all.length}`);
    expect(text($('[data-metric="month_spend"] strong'))).toBe(fmt.usd(csv.reduce((sum, r) => sum + Number(r[7]), 0)));
  });

  it('when htmx asks, then the answer is the #overview-body fragment without the shell', async () => {
    const res = await c.admin.agent
      .get(OVERVIEW)
      .set(hx('div#overview-body'))
      .expect(200)
      .expect('vary', /HX-Request/);
    const $ = fragment(res.text, 'overview-body');
    expect($('#overview-body').attr('hx-trigger')).toBe('every 30s');
  });
});
