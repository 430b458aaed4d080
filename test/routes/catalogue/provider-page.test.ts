import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { runRollup } from '../../../src/metrics/rollup.ts';
import { wilsonBad } from '../../metrics/brute-force.ts';
import { apiKey, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { tableRows, text } from '../../setup/html.ts';
import type { ModelRecord, ProviderRecord } from '../../setup/rows.ts';
import { HOUR, insertUsage, MINUTE, modelRef, type UsageEvent } from '../../setup/usage-factory.ts';
import { brute } from './figures.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { type Catalogue, openCatalogue, PROVIDERS } from './setup.ts';

// A provider's page, /platform/ai-management/providers/:slug: its health score and how it is
// computed, its inputs hour by hour, its probes and checks and its models, checked against the raw rows.

const fmt = createFormat('UTC');

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('provider_page');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

interface RawRow {
  created_at: Date;
  status: string;
  response_time_ms: number;
}

/** An hour's row of the hour-by-hour table from SPEC §4 alone, over that hour's raw rows. */
function hourCells(raw: RawRow[], from: number): string[] {
  const inHour = raw.filter((r) => r.created_at.getTime() >= from && r.created_at.getTime() < from + HOUR);
  const n = inHour.length;
  if (n === 0) return ['0', 'no data', 'no data', 'no data', 'no data', 'no data'];
  const ok = inHour.filter((r) => r.status === 'success').length;
  const mean = inHour.reduce((a, r) => a + r.response_time_ms, 0) / n;
  const perMinute = new Map<number, [number, number]>();
  for (const r of inHour) {
    const k = Math.floor(r.created_at.getTime() / MINUTE);
    const [total, failed] = perMinute.get(k) ?? [0, 0];
    perMinute.set(k, [total + 1, failed + (r.status === 'success' ? 0 : 1)]);
  }
  const bad = [...perMinute.values()].filter(([total, failed]) => wilsonBad(total, failed, 5)).length; // SPEC §4
  const uptime = ((60 - bad) / 60) * 100;
  const ls = Math.min(100, Math.max(0, ((5000 - mean) / 4500) * 100));
  return [
    String(n),
    fmt.percent((ok / n) * 100, 2),
    fmt.percent(uptime, 1),
    fmt.ms(mean),
    fmt.decimal(ls, 0),
    fmt.decimal(0.5 * (ok / n) * 100 + 0.3 * uptime + 0.2 * ls, 1),
  ];
}

const historyRows = ($: CheerioAPI) =>
  $('#health-history tbody tr')
    .toArray()
    .map((tr) => text($(tr)));

describe('GET /platform/ai-management/providers/:slug, a provider with traffic and checks', () => {
  let p: ProviderRecord;
  let m: ModelRecord;
  /** The start of the hour `hoursAgo` hours before the traffic was seeded. */
  let hourStart: (hoursAgo: number) => number;
  beforeAll(async () => {
    p = await makeProvider(c.db, { status: 'active', key: apiKey() });
    m = await makeModel(c.db, { provider_id: p.id, input_price_per_1k: 1, output_price_per_1k: 2 });
    const f = await makeFeature(c.db);
    const now0 = Date.now();
    hourStart = (hoursAgo: number) => Math.floor(now0 / HOUR) * HOUR - hoursAgo * HOUR;
    const event = (at: number, response_time_ms: number, status: UsageEvent['status'] = 'success'): UsageEvent => ({
      feature_id: f.id,
      model: modelRef(m, p),
      response_time_ms,
      status,
      created_at: new Date(at),
    });
    // Three full hours with traffic: 2 h ago all good, 5 h ago with errors in one minute, 9 h ago slow.
    const events: UsageEvent[] = [];
    for (let i = 0; i < 6; i++) events.push(event(hourStart(2) + i * 5 * MINUTE + 1000, 400));
    for (let i = 0; i < 4; i++) events.push(event(hourStart(5) + 10 * MINUTE + i * 1000, 1200, i < 2 ? 'error' : 'success'));
    for (let i = 0; i < 3; i++) events.push(event(hourStart(9) + i * 7 * MINUTE, 4000 + i * 500));
    await insertUsage(c.db, events);
    await c.db('health_checks').insert([
      { provider_id: p.id, kind: 'probe', status: 'ok', latency_ms: 41, checked_at: new Date(now0 - 50 * MINUTE) },
      {
        provider_id: p.id,
        kind: 'manual',
        status: 'error',
        latency_ms: 7,
        error: 'the provider answered 503',
        checked_at: new Date(now0 - 40 * MINUTE),
      },
      { provider_id: p.id, model_id: m.id, kind: 'smoke', status: 'ok', latency_ms: 120, checked_at: new Date(now0 - 30 * MINUTE) },
    ]);
  });

  it('when shown, then its figures and the formula line equal a brute-force computation over the raw rows', async () => {
    const $ = await c.page(`${PROVIDERS}/${p.name}`);
    const b = await brute(c.db, 'provider_id', p.id, Date.now());
    expect(b.requests).toBe(13);
    expect(b.capped).toBe(false);
    const metric = (name: string) => text($(`#provider-health [data-metric="${name}"]`));
    expect(metric('health')).toBe(fmt.decimal(b.health, 1));
    expect(metric('success')).toBe(fmt.percent(b.successRate, 2));
    expect(metric('uptime')).toBe(fmt.percent(b.uptime, 2));
    expect(metric('latency')).toBe(fmt.ms(b.meanMs));
    expect(metric('requests')).toBe('13');
    expect(metric('spend')).toBe(fmt.usd(b.monthly));
    expect(text($('#score-explained [data-formula]'))).toBe(
      `0.5 × ${fmt.decimal(b.successRate, 2)} + 0.3 × ${fmt.decimal(b.uptime, 2)} + 0.2 × ${fmt.decimal(b.latencyScore, 1)} = ${fmt.decimal(b.health, 1)}.`,
    );
    expect(text($('#score-explained'))).toContain('A failed probe or connection test in the last 15 minutes caps the score at 50');
  });

  it("when shown, then the hour-by-hour table has 25 rows newest first, each hour's inputs from its own raw rows", async () => {
    const $ = await c.page(`${PROVIDERS}/${p.name}`);
    // The first row is clipped at the window start.
    const rows = $('#health-history tbody tr').toArray();
    expect(rows).toHaveLength(25);
    const starts = rows.map((tr) => Date.parse($(tr).find('time').attr('datetime')!));
    expect(starts).toEqual([...starts].sort((x, y) => y - x));
    const { rows: raw } = await c.db.raw('SELECT created_at, status, response_time_ms FROM ai_usage_logs WHERE provider_id = ?', [p.id]);
    for (const hoursAgo of [2, 5, 9, 3]) {
      const from = hourStart(hoursAgo);
      const tr = rows[starts.indexOf(from)];
      expect(tr, `row for ${new Date(from).toISOString()}`).toBeDefined();
      const cells = $(tr)
        .children()
        .toArray()
        .map((cell) => text($(cell)));
      expect(cells.slice(1), `hour ${hoursAgo} h ago`).toEqual(hourCells(raw, from));
    }
    expect(hourCells(raw, hourStart(3))[0]).toBe('0'); // an hour without traffic is among those checked
  });

  it('when shown, then the probes and checks are listed newest first, and its models with their figures', async () => {
    const $ = await c.page(`${PROVIDERS}/${p.name}`);
    expect(tableRows($, '#checks tbody').map((cells) => cells.slice(1))).toEqual([
      [`smoke request · ${m.display_name}`, 'ok', '120 ms', ''],
      ['connection test', 'error', '7 ms', 'the provider answered 503'],
      ['probe', 'ok', '41 ms', ''],
    ]);
    expect(text($(`#provider-models tr[data-model="${m.name}"] td`).eq(2))).toBe('13');
    expect($('#provider-models tbody tr')).toHaveLength(1);
  });

  it('when its usage is folded into the rollups, then the hours read the same (whole hours from the per-minute arrays)', async () => {
    const before = historyRows(await c.page(`${PROVIDERS}/${p.name}`));
    await runRollup({ db: c.db });
    const rolled = historyRows(await c.page(`${PROVIDERS}/${p.name}`));
    expect(rolled.slice(1)).toEqual(before.slice(1)); // the newest (partial) hour moves on with the clock
  });
});

describe('GET /platform/ai-management/providers/:slug', () => {
  it('when a connection test failed less than 15 minutes ago, then the formula says the score is capped at 50', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey() });
    const m = await makeModel(c.db, { provider_id: p.id });
    const f = await makeFeature(c.db);
    await insertUsage(c.db, [
      { feature_id: f.id, model: modelRef(m, p), response_time_ms: 200, created_at: new Date(Date.now() - 20 * MINUTE) },
    ]);
    await c.db('health_checks').insert({
      provider_id: p.id,
      kind: 'manual',
      status: 'error',
      latency_ms: 3,
      error: 'refused',
      checked_at: new Date(Date.now() - 2 * MINUTE),
    });
    const $ = await c.page(`${PROVIDERS}/${p.name}`);
    expect(text($('[data-metric="health"]'))).toBe('50.0');
    expect(text($('[data-formula]'))).toMatch(/= \d+\.\d, capped at 50 because a probe failed in the last 15 minutes\.$/);
    await c.db('ai_providers').where({ id: p.id }).update({ status: 'inactive' });
    await c.db('health_checks').where({ provider_id: p.id }).del();
  });

  it('when the provider has no traffic, then "no data" and no formula with made-up numbers', async () => {
    const $ = await c.page(`${PROVIDERS}/bolt`);
    expect(text($('[data-metric="health"]'))).toBe('no data');
    expect($('[data-formula]')).toHaveLength(0);
    expect(text($('#score-explained'))).toContain('No traffic in the last 24 hours');
  });

  it('when a viewer looks, then the same figures without any form or button; an unknown provider is 404', async () => {
    const $ = await c.page(`${PROVIDERS}/acme`, c.viewer);
    expect(text($('h1'))).toContain('Acme AI');
    expect($('#provider-health [data-metric="requests"]').text()).toBe('17');
    expect($('main form, main button, main input, main select')).toHaveLength(0);
    expect($('#edit-provider')).toHaveLength(0);
    await c.admin.agent.get(`${PROVIDERS}/no-such-provider`).expect(404);
  });

  it('when an admin looks, then Test connection, Deactivate, Archive and the edit form are plain POST forms with the CSRF field; the key field is empty', async () => {
    const $ = await c.page(`${PROVIDERS}/acme`);
    const forms = $('main form[method="post"]')
      .toArray()
      .map((f) => [$(f).attr('action'), $(f).find('input[name="_csrf"]').val()]);
    expect(forms).toEqual([
      [`${PROVIDERS}/acme/test`, c.admin.csrf],
      [`${PROVIDERS}/acme/status`, c.admin.csrf],
      [`${PROVIDERS}/acme/archive`, c.admin.csrf],
      [`${PROVIDERS}/acme`, c.admin.csrf],
    ]);
    expect($(`form[action="${PROVIDERS}/acme/status"] input[name="status"]`).val()).toBe('inactive');
    expect(text($(`form[action="${PROVIDERS}/acme/status"] button`))).toBe('Deactivate');
    expect($('#edit-api_key').attr('type')).toBe('password');
    expect($('#edit-api_key').val()).toBe('');
    expect($('#edit-base_url').val()).toBe('https://api.example.com/v1');
    expect(text($('[data-key-hint]'))).toBe(`••••${fx.acme.api_key_last4}`);
  });
});
