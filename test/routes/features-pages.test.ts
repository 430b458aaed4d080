import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FeatureRow, listFeatures } from '../../src/db/queries/features.ts';
import { createFormat } from '../../src/format.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { featureSummaries, monthToDateSpend, type Summary } from '../../src/metrics/summaries.ts';
import { startTestApp, type TestContext, testConfig } from '../setup/app.ts';
import { makeFeature, makeUser, suffix } from '../setup/factories.ts';
import { type Agent, ageSession, csrfFor, sessionIdOfUser, signIn, signInAs } from '../setup/session.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelsByName, type UsageEvent } from '../setup/usage-factory.ts';

const PATH = '/platform/ai-management/features';
const OVERVIEW = '/platform/ai-management';
const fmt = createFormat('UTC');

let t: TestContext;
let admin: Agent;
let viewer: Agent;
let mini: ModelRef;
let sonnet: ModelRef;
beforeAll(async () => {
  t = startTestApp();
  const [a, v] = [await makeUser(t.db, 'admin'), await makeUser(t.db, 'viewer')];
  admin = await signIn(t.app, a.email, a.password);
  viewer = await signIn(t.app, v.email, v.password);
  const models = await modelsByName(t.db);
  [mini, sonnet] = [models.get('gpt-4o-mini')!, models.get('claude-3-5-sonnet-20241022')!];
});
afterAll(() => t.close());

const url = (params: Record<string, string>) => `${PATH}?${new URLSearchParams(params)}`;
const ago = (ms: number) => new Date(Date.now() - ms);
const use = (f: { id: string }, model: ModelRef, minutesAgo: number, extra: Partial<UsageEvent> = {}): UsageEvent => ({
  feature_id: f.id,
  model,
  created_at: ago(minutesAgo * MINUTE),
  ...extra,
});
const hx = (target?: string): Record<string, string> => ({ 'HX-Request': 'true', ...(target ? { 'HX-Target': target } : {}) });
const text = (el: cheerio.Cheerio<any>) => el.text().replace(/\s+/g, ' ').trim();
const rows = ($: cheerio.CheerioAPI, sel: string) =>
  $(`${sel} tr`)
    .toArray()
    .map((tr) =>
      $(tr)
        .children()
        .toArray()
        .map((c) => text($(c))),
    );
const featureRow = (id: string): Promise<FeatureRow> => t.db('ai_features').where({ id }).first();

/** A signed-in page: 200, Vary by HX-Request, parsed. */
async function page(path: string, agent = admin) {
  return cheerio.load(
    (
      await agent
        .get(path)
        .expect(200)
        .expect('vary', /HX-Request/)
    ).text,
  );
}

/** An htmx fragment: no shell, a single root element with that id. */
function fragment(html: string, id: string) {
  expect(html).not.toMatch(/<html|<header class="top"|aria-label="Main"/);
  const $ = cheerio.load(html, null, false);
  expect(
    $.root()
      .children()
      .toArray()
      .map((e) => $(e).attr('id')),
  ).toEqual([id]);
  return $;
}

const cardFacts = ($: cheerio.CheerioAPI, name: string) =>
  $(`.feature-card[data-feature="${name}"] dd`)
    .toArray()
    .map((d) => text($(d)));
const summaryFacts = (s: Summary) => [
  fmt.percent(s.uptime),
  fmt.ms(s.response_time),
  fmt.integer(s.total_requests),
  fmt.usd(s.cost_per_request, 4),
];

/** A feature with usage spread over 30 days, a model change 90 minutes ago and its assignments. */
async function seededFeature() {
  const f = await makeFeature(t.db, { display_name: `Overview ${suffix()}` });
  await insertUsage(t.db, [
    use(f, mini, 30, { response_time_ms: 300, end_user_id: 'u1' }),
    use(f, sonnet, 180, { response_time_ms: 900, end_user_id: 'u2', input_tokens: 1000, output_tokens: 500 }),
    use(f, mini, 181, { status: 'error', response_time_ms: 1500, end_user_id: 'u1' }),
    use(f, mini, 300, { response_time_ms: 200, end_user_id: 'u3' }),
    use(f, mini, 40 * 60, { response_time_ms: 100 }),
    use(f, sonnet, 10 * 24 * 60, { response_time_ms: 100 }),
  ]);
  const finished = ago(90 * MINUTE);
  const scope = { feature_id: f.id, environment: 'production' };
  const assign = { ...scope, assigned_by: 'test' };
  await t
    .db('feature_model_assignments')
    .insert({ ...assign, model_id: mini.id, is_active: false, assigned_at: ago(3 * DAY), deactivated_at: finished });
  const [current] = await t
    .db('feature_model_assignments')
    .insert({ ...assign, model_id: sonnet.id, assigned_at: finished })
    .returning('id');
  await t.db('deployments').insert({
    ...scope,
    model_id: sonnet.id,
    previous_model_id: mini.id,
    kind: 'assign',
    status: 'success',
    requested_by: 'test',
    assignment_id: current.id,
    started_at: new Date(finished.getTime() - MINUTE),
    finished_at: finished,
  });
  return { f: await featureRow(f.id), finished };
}

/** The overview tab shows exactly what featureMetrics says for the same range. */
async function expectOverviewOf($: cheerio.CheerioAPI, f: FeatureRow, range: RangeName) {
  const m = await featureMetrics(t.db, f, range, new Date(), 'UTC');
  const { realtime: r, usage: u, costs: c, performance: p } = m;
  const metric = (k: string) => text($(`#feature-overview [data-metric="${k}"] strong`));
  const stat = (k: string) => text($(`#feature-overview [data-stat="${k}"]`));
  expect([
    metric('uptime'),
    metric('response_time'),
    text($('[data-metric="response_time"] .sub')),
    metric('success_rate'),
    metric('cost_per_request'),
  ]).toEqual([
    fmt.percent(r.uptime),
    fmt.ms(r.response_time),
    `p95 ${fmt.ms(r.p95)}`,
    fmt.percent(r.success_rate),
    fmt.usd(r.cost_per_request, 4),
  ]);
  expect(text($('[data-metric="cost_per_request"] .trend'))).toBe(fmt.change(c.cost_trend));
  expect(
    ['total_requests', 'unique_users', 'peak_usage_hour', 'avg_requests_per_user', 'requests_per_minute', 'total_cost'].map(stat),
  ).toEqual([
    fmt.integer(u.total_requests),
    fmt.integer(u.unique_users),
    fmt.hour(u.peak_usage_hour),
    fmt.decimal(u.avg_requests_per_user),
    fmt.decimal(r.requests_per_minute, 2),
    fmt.usd(c.total_cost),
  ]);
  type Share = { category: string; amount: number; percentage: number | null };
  const share = (name: (c: string) => string) => (b: Share) => [name(b.category), fmt.usd(b.amount), fmt.percent(b.percentage)];
  expect(rows($, '#cost-by-model')).toEqual(c.total_cost ? c.cost_breakdown.map(share((x) => x)) : []);
  expect(rows($, '#cost-by-direction')).toEqual(c.total_cost ? c.cost_by_direction.map(share((x) => `${fmt.titleCase(x)} tokens`)) : []);
  expect(stat('grade')).toBe(p ? `${p.grade} ${fmt.decimal(p.score, 0)}/100` : '');
  return m;
}

type ChartJson = { labels: string[]; markers: { index: number; label: string }[]; series: { name: string; data: (number | null)[] }[] };
/** Every chart on the page: its id, the JSON it hands to chartist and its data table's row count. */
const charts = ($: cheerio.CheerioAPI) =>
  $('figure.chart')
    .toArray()
    .map((fig) => ({
      id: $(fig).attr('id'),
      json: JSON.parse($(fig).find('.ct-chart').attr('data-chart')!) as ChartJson,
      rows: $(fig).find('tbody tr').length,
    }));
const BUCKETS: Record<RangeName, number[]> = { '1h': [12, 13], '24h': [24, 25], '7d': [28, 29], '30d': [30, 31] };
const LABEL: Record<RangeName, Intl.DateTimeFormatOptions> = {
  '1h': { hour: '2-digit', minute: '2-digit' },
  '24h': { hour: '2-digit', minute: '2-digit' },
  '7d': { weekday: 'short', hour: '2-digit', minute: '2-digit' },
  '30d': { day: '2-digit', month: 'short' },
};
const bucketLabel = (range: RangeName, at: Date) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour12: false, ...LABEL[range] }).format(
    new Date(Math.floor(at.getTime() / RANGES[range].bucketMs) * RANGES[range].bucketMs),
  );

describe('GET /platform/ai-management/features', () => {
  it('when features have usage, then every card shows the 24 h figures of featureSummaries, raw and rolled up, and warns only above a 5% error rate', async () => {
    const [calm, noisy, idle] = [await makeFeature(t.db), await makeFeature(t.db), await makeFeature(t.db)];
    await insertUsage(t.db, [
      ...Array.from({ length: 20 }, (_, i) =>
        use(calm, mini, 120 + i, { status: i === 0 ? 'error' : 'success', response_time_ms: 100 + 10 * i }),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        use(noisy, sonnet, 300 + i, { status: i < 2 ? 'error' : 'success', response_time_ms: 1000 + i }),
      ),
    ]);
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await runRollup({ db: t.db });
      const listed = (await listFeatures(t.db)).map((f) => f.name);
      const $ = await page(PATH);
      const sums = await featureSummaries(t.db, [calm, noisy, idle], '24h', new Date());
      for (const f of [calm, noisy, idle]) expect(cardFacts($, f.name), `${stage} ${f.name}`).toEqual(summaryFacts(sums.get(f.id)!));
      expect(sums.get(calm.id)!.error_rate).toBe(5);
      expect($(`.feature-card[data-feature="${calm.name}"] .warning`)).toHaveLength(0);
      expect(text($(`.feature-card[data-feature="${noisy.name}"] .warning`))).toBe('Error rate 20.0%');
      expect(cardFacts($, idle.name)).toEqual(['no data', 'no data', '0', 'no data']);
      const shown = $('.feature-card')
        .toArray()
        .map((a) => $(a).attr('data-feature'));
      expect(new Set(shown).size).toBe(shown.length);
      expect(listed.filter((name) => !shown.includes(name))).toEqual([]);
    }
  });

  it('when ?feature=<slug> is given, then that card is aria-current and its panel shows five tabs with the asked one current', async () => {
    const f = await makeFeature(t.db);
    const $ = await page(url({ feature: f.name, tab: 'settings' }));
    expect(
      $('.feature-card[aria-current="true"]')
        .toArray()
        .map((a) => $(a).attr('data-feature')),
    ).toEqual([f.name]);
    expect($('#feature-panel').attr('data-feature')).toBe(f.name);
    expect(
      $('#feature-panel nav.tabs a')
        .toArray()
        .map((a) => $(a).text()),
    ).toEqual(['Overview', 'Models', 'Prompts', 'Testing', 'Settings']);
    expect($('#feature-panel nav.tabs a[aria-current="page"]').text()).toBe('Settings');
  });

  it('when no feature is named, then the first feature is selected on its overview tab', async () => {
    const $ = await page(PATH);
    const first = (await listFeatures(t.db))[0];
    expect($('#feature-panel').attr('data-feature')).toBe(first.name);
    expect($('.feature-card[aria-current="true"]').attr('data-feature')).toBe(first.name);
    expect($('#feature-panel nav.tabs a[aria-current="page"]').text()).toBe('Overview');
  });

  it.each([
    [`feature=nope-${suffix()}`, 404, 'Feature not found'],
    ['range=2h', 400, 'range must be one of 1h, 24h, 7d, 30d'],
    ['tab=bogus', 400, 'tab must be one of overview, models, prompts, testing, settings'],
    ['environment=x', 400, 'environment must be one of development, staging, production'],
    ['format=pdf', 400, 'format must be one of html, csv'],
  ])('when the query has %s, then %i saying "%s"', async (query, status, message) => {
    const res = await admin.get(`${PATH}?${query}`).expect(status);
    expect(text(cheerio.load(res.text)('#error p').first())).toBe(message);
  });
});

describe('GET /platform/ai-management/features, overview tab', () => {
  it.each(['1h', '24h', '7d', '30d'] as RangeName[])(
    'when the range is %s, then figures, charts and model changes equal the metrics service',
    async (range) => {
      const { f, finished } = await seededFeature();
      const $ = await page(url({ feature: f.name, range }));
      expect($('#feature-overview nav.ranges a[aria-current="page"]').attr('href')).toBe(url({ feature: f.name, tab: 'overview', range }));
      const m = await expectOverviewOf($, f, range);
      expect(m.usage.total_requests).toBe({ '1h': 1, '24h': 4, '7d': 5, '30d': 6 }[range]);
      expect(m.costs.cost_breakdown.map((b) => b.category).sort()).toEqual(
        range === '1h' ? [mini.display_name] : [mini.display_name, sonnet.display_name].sort(),
      );
      expect($('#no-data')).toHaveLength(0);
      const all = charts($);
      const showsErrors = m.realtime.error_rate! > 1;
      expect(showsErrors).toBe(range !== '1h');
      expect(all.map((c) => c.id)).toEqual(['chart-latency', 'chart-throughput', ...(showsErrors ? ['chart-errors'] : [])]);
      for (const c of all) {
        expect(BUCKETS[range]).toContain(c.json.labels.length);
        expect(c.rows).toBe(c.json.labels.length);
        for (const s of c.json.series) expect(s.data).toHaveLength(c.json.labels.length);
      }
      const throughput = all.find((c) => c.id === 'chart-throughput')!.json.series[0].data as number[];
      expect(throughput.reduce((a, b) => a + b, 0)).toBe(m.usage.total_requests);
      const change = `production: ${mini.display_name} → ${sonnet.display_name} (assign)`;
      if (range === '1h') {
        expect(all.every((c) => c.json.markers.length === 0)).toBe(true);
        expect($('.changes')).toHaveLength(0);
      } else {
        for (const c of all) {
          expect(c.json.markers.map((k) => k.label)).toEqual([change]);
          expect(c.json.labels[c.json.markers[0].index]).toBe(bucketLabel(range, finished));
        }
        expect(text($('.changes h4'))).toBe('Model changes in this range');
        expect(
          $('.changes li')
            .toArray()
            .map((li) => text($(li))),
        ).toEqual([`${fmt.dateTime(finished)} · ${change}`]);
        expect($('.changes time').attr('datetime')).toBe(finished.toISOString());
      }
    },
  );

  it('when there are no requests in the range, then "no data" everywhere, #no-data and no charts', async () => {
    const f = await makeFeature(t.db);
    await insertUsage(t.db, [use(f, mini, 36 * 60)]);
    const $ = await page(url({ feature: f.name, range: '24h' }));
    const m = await expectOverviewOf($, await featureRow(f.id), '24h');
    expect(m.usage.total_requests).toBe(0);
    for (const k of ['uptime', 'response_time', 'success_rate', 'cost_per_request'])
      expect(text($(`[data-metric="${k}"] strong`))).toBe('no data');
    expect(text($('[data-stat="peak_usage_hour"]'))).toBe('no data');
    expect($('#no-data')).toHaveLength(1);
    expect($('.ct-chart, #chart-errors, #cost-by-model, [data-stat="grade"]')).toHaveLength(0);
    expect($('#feature-overview').text()).toContain('No requests in this range: no score.');
    expect($('#feature-overview').text()).not.toMatch(/(?<![\d.])0(\.0+)?%/);
  });

  it('when format=csv, then a CSV attachment with one row per bucket whose requests sum to the total', async () => {
    const { f } = await seededFeature();
    for (const [range, total] of [
      ['24h', 4],
      ['7d', 5],
    ] as const) {
      const res = await admin.get(url({ feature: f.name, range, format: 'csv' })).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="?${f.name}-${range}\\.csv"?$`));
      expect(res.headers.vary).toMatch(/HX-Request/);
      const [header, ...lines] = res.text.replace(/\r\n$/, '').split('\r\n');
      expect(header).toBe('bucket_start_utc,requests,response_time_ms,p95_ms,error_rate_pct,cost_usd');
      expect(BUCKETS[range]).toContain(lines.length);
      const cells = lines.map((l) => l.split(','));
      expect(cells.every((c) => c.length === 6 && !Number.isNaN(Date.parse(c[0])))).toBe(true);
      expect(cells.reduce((a, c) => a + Number(c[1]), 0)).toBe(total);
    }
  });
});

describe('GET /platform/ai-management/features, htmx fragments', () => {
  it.each([
    ['div#feature-workspace', 'feature-workspace'],
    ['section#feature-cards', 'feature-cards'],
    ['section#feature-panel', 'feature-panel'],
    ['div#feature-overview', 'feature-overview'],
    [undefined, 'feature-workspace'],
  ])('when htmx targets %s, then the answer is the #%s fragment, varying by HX-Request and HX-Target', async (target, id) => {
    const f = await makeFeature(t.db);
    const res = await admin
      .get(url({ feature: f.name }))
      .set(hx(target))
      .expect(200)
      .expect('vary', /HX-Request.*HX-Target/);
    fragment(res.text, id);
  });

  it('when htmx asks for the overview fragment of another tab, then 400 as an error fragment, not a broken overview', async () => {
    const f = await makeFeature(t.db);
    const res = await admin
      .get(url({ feature: f.name, tab: 'models' }))
      .set(hx('div#feature-overview'))
      .expect(400);
    expect(text(fragment(res.text, 'error')('p').first())).toBe('The overview fragment needs tab=overview');
  });

  it('when a polled fragment is fetched, then it keeps its hx-get, every-30s trigger and outerHTML swap so polling goes on', async () => {
    const { f } = await seededFeature();
    const state = url({ feature: f.name, tab: 'overview', range: '7d' });
    // The cards depend on the feature only; the overview on the whole state.
    for (const [target, id, polled] of [
      ['section#feature-cards', 'feature-cards', url({ feature: f.name })],
      ['div#feature-overview', 'feature-overview', state],
    ]) {
      const $ = fragment((await admin.get(state).set(hx(target)).expect(200)).text, id);
      const root = $(`#${id}`);
      expect([root.attr('hx-get'), root.attr('hx-trigger'), root.attr('hx-swap')]).toEqual([polled, 'every 30s', 'outerHTML']);
    }
  });

  it('when links are rendered, then tab and range links carry feature, tab and range, cards the feature alone, and each hx-get is its href', async () => {
    const { f } = await seededFeature();
    const $ = await page(url({ feature: f.name, range: '7d' }));
    const links = $('#feature-panel a[hx-get]')
      .toArray()
      .map((a) => ({ href: $(a).attr('href')!, hxGet: $(a).attr('hx-get') }));
    for (const card of $('.feature-card').toArray()) expect($(card).attr('hx-get')).toBe($(card).attr('href'));
    expect(links.length).toBe(9);
    for (const { href, hxGet } of links) {
      expect(hxGet).toBe(href);
      const q = new URL(href, 'http://x').searchParams;
      expect([q.get('feature'), q.get('tab'), q.get('range')].every(Boolean), href).toBe(true);
    }
    const tabs = $('#feature-panel nav.tabs a')
      .toArray()
      .map((a) => $(a).attr('href'));
    expect(tabs).toEqual(['overview', 'models', 'prompts', 'testing', 'settings'].map((tab) => url({ feature: f.name, tab, range: '7d' })));
    const ranges = $('#feature-overview nav.ranges a')
      .toArray()
      .map((a) => $(a).attr('href'));
    expect(ranges).toEqual(['1h', '24h', '7d', '30d'].map((range) => url({ feature: f.name, tab: 'overview', range })));
    expect($(`.feature-card[data-feature="${f.name}"]`).attr('href')).toBe(url({ feature: f.name }));
    expect($('#feature-overview a[download]').attr('href')).toBe(url({ feature: f.name, tab: 'overview', range: '7d', format: 'csv' }));
  });

  it.each(['prompts', 'testing', 'settings'])(
    'when the %s tab is asked for, then it renders and says plainly what is not built yet',
    async (tab) => {
      const f = await makeFeature(t.db);
      const $ = fragment(
        (
          await admin
            .get(url({ feature: f.name, tab }))
            .set(hx('section#feature-panel'))
            .expect(200)
        ).text,
        'feature-panel',
      );
      expect(text($('.notice'))).toMatch(/is not built yet/);
      expect($('#feature-overview')).toHaveLength(0);
    },
  );

  it('when the models tab is shown, then it lists the model per environment, the candidates with their what-if cost, and the history of the environment', async () => {
    const { f } = await seededFeature();
    const $ = await page(url({ feature: f.name, tab: 'models' }));
    expect(text($('#environments tr[data-environment="production"] td').first())).toBe(sonnet.display_name);
    for (const env of ['development', 'staging'])
      expect(text($(`#environments tr[data-environment="${env}"] td`))).toBe('No model assigned');
    expect(text($('#current-model strong').first())).toBe(sonnet.display_name);
    expect($('#candidates tr.current th').text()).toContain(sonnet.display_name);
    expect($(`#candidates tr[data-model="${mini.name}"] td[data-col="what-if"]`).text()).toMatch(/^\$/);
    const history = rows($, '#assignment-history tbody');
    expect(history.map((r) => [r[0], r[3]])).toEqual([
      [sonnet.display_name, 'test'],
      [mini.display_name, 'test'],
    ]);
    expect(history[0][4]).toBe('active');
  });

  it('when the prompts tab is shown, then it lists the stored prompt versions, newest first, with where each is active', async () => {
    const f = await makeFeature(t.db);
    const [, v2] = await t
      .db('prompt_versions')
      .insert([
        { feature_id: f.id, version: 1, template: 'Tag {{photo}}', created_by: 'test' },
        { feature_id: f.id, version: 2, template: 'Tag <b>{{photo}}</b> briefly', notes: 'shorter', created_by: 'test' },
      ])
      .returning('id');
    await t
      .db('prompt_activations')
      .insert({ feature_id: f.id, prompt_version_id: v2.id, environment: 'production', activated_by: 'test' });
    const $ = await page(url({ feature: f.name, tab: 'prompts' }));
    expect(
      $('article.prompt h3')
        .toArray()
        .map((h) => text($(h))),
    ).toEqual(['Version 2 active in production', 'Version 1']);
    expect(
      $('article.prompt pre')
        .toArray()
        .map((p) => $(p).text()),
    ).toEqual(['Tag <b>{{photo}}</b> briefly', 'Tag {{photo}}']);
    expect(text($('article.prompt .muted').first())).toContain('shorter');
  });
});

describe('POST /platform/ai-management/features', () => {
  const written = async (name: string) => ({
    features: await t.db('ai_features').where({ name }).select('id', 'display_name', 'required_model_type'),
    audit: await t
      .db('audit_log')
      .where({ action: 'feature.created' })
      .whereRaw("after->>'name' = ?", [name])
      .select('actor_label', 'entity_id'),
  });

  it('when an admin adds a valid feature, then 303 to it, a flash on the next page, the row and an audit entry', async () => {
    const name = `new-${suffix()}`;
    const res = await admin
      .post(PATH)
      .type('form')
      .send({ name, display_name: ' Photo captions ', description: 'x', required_model_type: 'vision', _csrf: await csrfFor(admin) })
      .expect(303);
    expect(res.headers.location).toBe(url({ feature: name }));
    const $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toContain('Feature “Photo captions” added');
    expect($('#feature-panel').attr('data-feature')).toBe(name);
    const { features, audit } = await written(name);
    expect(features).toEqual([{ id: expect.any(String), display_name: 'Photo captions', required_model_type: 'vision' }]);
    expect(audit).toEqual([{ actor_label: expect.stringMatching(/^admin-.*@example\.test$/), entity_id: features[0].id }]);
  });

  it('when the slug, display name and model type are invalid, then 422 with inline errors and aria-invalid, and nothing written', async () => {
    const name = `Bad Slug ${suffix()}`;
    const res = await admin
      .post(PATH)
      .type('form')
      .send({ name, display_name: '  ', required_model_type: 'audio', _csrf: await csrfFor(admin) })
      .expect(422);
    const $ = cheerio.load(res.text);
    expect(text($('#name-error'))).toBe(
      'Slug must be lowercase letters, digits and dashes, start with a letter or digit, and be at most 63 characters',
    );
    expect(text($('#display_name-error'))).toBe('Display name is required');
    expect(text($('#required_model_type-error'))).toBe('Required model type must be one of llm, vision, embedding');
    for (const field of ['input[name="name"]', 'input[name="display_name"]', 'select[name="required_model_type"]'])
      expect($(field).attr('aria-invalid')).toBe('true');
    expect($('input[name="name"]').val()).toBe(name);
    expect($('details.add-feature').attr('open')).toBeDefined();
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the display name or description holds a NUL byte, then 422 inline and nothing written (not a 500)', async () => {
    const name = `nul-${suffix()}`;
    const form = { name, display_name: 'a\u0000b', description: 'd\u0000', required_model_type: 'llm', _csrf: await csrfFor(admin) };
    const $ = cheerio.load((await admin.post(PATH).type('form').send(form).expect(422)).text);
    expect(text($('#display_name-error'))).toBe('Display name must not contain control characters');
    expect(text($('#description-error'))).toBe('Description must not contain control characters');
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the URL names a feature with a NUL byte, then 400, not a 500', async () => {
    await admin.get(`${PATH}?feature=a%00b`).expect(400);
  });

  it('when the slug is taken, then 409 with the error inline on the name and nothing written', async () => {
    const taken = await makeFeature(t.db);
    const before = await written(taken.name);
    const form = { name: taken.name, display_name: 'Again', required_model_type: 'llm', _csrf: await csrfFor(admin) };
    const $ = cheerio.load((await admin.post(PATH).type('form').send(form).expect(409)).text);
    expect(text($('#name-error'))).toBe('Slug is already taken');
    expect($('input[name="name"]').attr('aria-invalid')).toBe('true');
    expect(await written(taken.name)).toEqual(before);
    expect((await featureRow(taken.id)).display_name).toBe('Test feature');
  });

  it('when a viewer posts, then 403 and nothing written', async () => {
    const name = `viewer-${suffix()}`;
    const res = await viewer
      .post(PATH)
      .type('form')
      .send({ name, display_name: 'V', required_model_type: 'llm', _csrf: await csrfFor(viewer) })
      .expect(403);
    expect(text(cheerio.load(res.text)('#error p').first())).toBe('Only admins can make changes');
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the CSRF field is missing, then 403 and nothing written', async () => {
    const name = `nocsrf-${suffix()}`;
    await admin.post(PATH).type('form').send({ name, display_name: 'N', required_model_type: 'llm' }).expect(403);
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });
});

describe('GET /platform/ai-management', () => {
  it('when features have usage, then each row shows its production model, 24 h figures and month spend, the total is their sum and breaches are listed', async () => {
    const monthStart = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1);
    const minutesAgo = Math.max(0, Math.min(30, Math.floor((Date.now() - monthStart) / MINUTE) - 1)); // this month and this day
    const hot = await makeFeature(t.db, { error_rate_threshold: 10, monthly_budget_usd: 0.01 });
    const calm = await makeFeature(t.db, { monthly_budget_usd: 100 });
    await t
      .db('feature_model_assignments')
      .insert({ feature_id: hot.id, model_id: mini.id, environment: 'production', assigned_by: 'test' });
    const pricey = { input_cost_units: 1_000_000, output_cost_units: 1_000_000 }; // $0.02 each
    await insertUsage(t.db, [
      use(hot, mini, minutesAgo, pricey),
      use(hot, mini, minutesAgo, { ...pricey, status: 'error' }),
      use(calm, mini, minutesAgo),
    ]);
    const ids = async () => (await listFeatures(t.db)).map((f) => f.id);
    const totalBefore = [...(await monthToDateSpend(t.db, await ids(), new Date())).current.values()].reduce((a, b) => a + b, 0);
    const $ = await page(OVERVIEW);
    const now = new Date();
    const spend = await monthToDateSpend(t.db, await ids(), now);
    const day = await featureSummaries(t.db, [await featureRow(hot.id), await featureRow(calm.id)], '24h', now);
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
    expect(alerts).toEqual([
      [hot.name, 'error_rate', 'Test feature: error rate 50.00% over 24 h, threshold 10.00%'],
      [hot.name, 'budget', 'Test feature: spent $0.04 this month, budget $0.01'],
    ]);
  });

  it('when htmx asks, then the answer is the #overview-body fragment without the shell', async () => {
    const res = await admin
      .get(OVERVIEW)
      .set(hx('div#overview-body'))
      .expect(200)
      .expect('vary', /HX-Request/);
    const $ = fragment(res.text, 'overview-body');
    expect($('#overview-body').attr('hx-trigger')).toBe('every 30s');
  });
});

describe('htmx without a valid session', () => {
  it('when there is no session, then 401 with HX-Redirect to /login and the page to come back to', async () => {
    const path = url({ feature: 'chatbot', range: '7d' });
    const res = await request(t.app).get(path).set(hx('div#feature-overview')).expect(401);
    expect(res.headers['hx-redirect']).toBe(`/login?next=${encodeURIComponent(path)}`);
    expect(res.text).toBe('');
    await request(t.app)
      .get(path)
      .expect(303)
      .expect('location', `/login?next=${encodeURIComponent(path)}`);
  });

  it('when the session is past its absolute lifetime, then 401 with HX-Redirect and the old session is gone from the store', async () => {
    const { user, agent } = await signInAs(t, 'admin');
    const sid = await sessionIdOfUser(t.db, user.id);
    expect(await t.db('sessions').where({ sid }).first()).toBeDefined();
    // Signed in a minute longer ago than the absolute lifetime (moved back in the store, not waited out).
    await ageSession(t.db, sid, { signedInMsAgo: testConfig().sessionAbsoluteMs + 60_000 });
    const res = await agent.get(PATH).set(hx('section#feature-cards')).expect(401);
    expect(res.headers['hx-redirect']).toBe(`/login?next=${encodeURIComponent(PATH)}`);
    expect(await t.db('sessions').where({ sid }).first()).toBeUndefined();
  });
});
