import crypto from 'node:crypto';
import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../src/format.ts';
import { modelMetrics } from '../../src/metrics/model-metrics.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import {
  BUCKET_MS,
  between,
  differences,
  headlineOf,
  percentileCont,
  RANGE_MS,
  RANGES,
  type Range,
  type Raw,
  rawRows,
} from '../metrics/brute-force.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeUser, suffix } from '../setup/factories.ts';
import { type Agent, signIn } from '../setup/session.ts';
import { insertUsage, MINUTE, type ModelRef, type UsageEvent } from '../setup/usage-factory.ts';

const PATH = '/platform/ai-management/models';
const COMPARE = `${PATH}/compare`;
const fmt = createFormat('UTC');

let t: TestContext;
let admin: Agent;
let viewer: Agent;
/** Four models of a provider of this file's own: A busy, B light, C only 3 days ago, D never used. */
let A: ModelRef, B: ModelRef, C: ModelRef, D: ModelRef;

const text = (el: cheerio.Cheerio<any>) => el.text().replace(/\s+/g, ' ').trim();
const ago = (minutes: number) => new Date(Date.now() - minutes * MINUTE);
const hx = { 'HX-Request': 'true', 'HX-Target': 'section#model-performance' };
const modelUrl = (m: { id: string }, params: Record<string, string> = {}) =>
  `${PATH}/${m.id}${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ''}`;
const compareUrl = (ids: string[], params: Record<string, string> = {}) =>
  `${COMPARE}?ids=${ids.map(encodeURIComponent).join(',')}${Object.keys(params).length ? `&${new URLSearchParams(params)}` : ''}`;

async function makeModels(): Promise<ModelRef[]> {
  const [provider] = await t
    .db('ai_providers')
    .insert({ name: `mp-${suffix()}`, display_name: `Model pages ${suffix()}`, kind: 'simulator', status: 'active' })
    .returning('*');
  const rows = await t
    .db('ai_models')
    .insert(
      ['A', 'B', 'C', 'D'].map((letter, i) => ({
        provider_id: provider.id,
        name: `model-${letter.toLowerCase()}-${suffix()}`,
        display_name: `Model ${letter} ${suffix()}`,
        model_type: 'llm',
        status: ['available', 'beta', 'deprecated', 'offline'][i],
        input_price_per_1k: 0.0015 * (i + 1),
        output_price_per_1k: 0.002 * (i + 1),
        context_window: 8192 * (i + 1),
      })),
    )
    .returning('*');
  return rows.map((m) => ({
    ...m,
    provider_name: provider.name,
    in_micro: Math.round(Number(m.input_price_per_1k) * 1e6),
    out_micro: Math.round(Number(m.output_price_per_1k) * 1e6),
  }));
}

// Minutes ago, status and latency: every row at least 15 minutes away from the edge of any range.
const A_USAGE: [number, UsageEvent['status'], number][] = [
  [2, 'success', 120],
  [7, 'error', 900],
  [8, 'success', 200],
  [14, 'timeout', 3000],
  [33, 'success', 250],
  [45, 'success', 310],
  [90, 'success', 500],
  [180, 'error', 1500],
  [181, 'success', 90],
  [600, 'success', 700],
  [1300, 'success', 410],
  [3 * 1440, 'success', 220],
  [5 * 1440, 'error', 2600],
  [10 * 1440, 'success', 180],
  [20 * 1440, 'timeout', 5000],
];
const B_USAGE: [number, UsageEvent['status'], number][] = [
  [20, 'success', 400],
  [300, 'error', 800],
  [2 * 1440, 'success', 150],
];

beforeAll(async () => {
  t = startTestApp();
  const [a, v] = [await makeUser(t.db, 'admin'), await makeUser(t.db, 'viewer')];
  admin = await signIn(t.app, a.email, a.password);
  viewer = await signIn(t.app, v.email, v.password);
  [A, B, C, D] = await makeModels();
  const f = await makeFeature(t.db);
  const use =
    (model: ModelRef) =>
    ([minutes, status, ms]: [number, UsageEvent['status'], number], i: number): UsageEvent => ({
      feature_id: f.id,
      model,
      created_at: ago(minutes),
      status,
      response_time_ms: ms,
      input_tokens: 100 + 37 * i,
      output_tokens: 20 + 11 * i,
    });
  await insertUsage(t.db, [...A_USAGE.map(use(A)), ...B_USAGE.map(use(B)), use(C)([3 * 1440, 'success', 600], 0)]);
});
afterAll(() => t.close());

/** SPEC §4 figures recomputed from a model's raw rows over [now − range, now]. */
function expected(rows: Raw[], range: Range, now: number) {
  const w = between(rows, now - RANGE_MS[range], now);
  const ms = w.map((r) => r.ms);
  return { ...headlineOf(w), p50: percentileCont(ms, 0.5), p95: percentileCont(ms, 0.95), p99: percentileCont(ms, 0.99) };
}
type Expected = ReturnType<typeof expected>;

/** A CSV bucket row recomputed from raw rows, from its (clipped) start alone. */
function expectedBucket(rows: Raw[], range: Range, now: number, start: string) {
  const size = BUCKET_MS[range];
  const from = Math.floor(Date.parse(start) / size) * size;
  const b = between(rows, now - RANGE_MS[range], now).filter((r) => r.t >= from && r.t < from + size);
  const h = headlineOf(b);
  const round = (n: number | null, digits: number) => (n === null ? null : Number(n.toFixed(digits)));
  return [
    start,
    b.length,
    round(h.response_time, 1),
    percentileCont(
      b.map((r) => r.ms),
      0.95,
    ),
    round(h.error_rate, 3),
    Number(h.total_cost.toFixed(8)),
  ];
}

const csvRows = (body: string) =>
  body
    .replace(/\r\n$/, '')
    .split('\r\n')
    .map((l) => l.split(','));
/** A CSV row of the model page with its numbers read back (empty cells are null). */
const csvValues = (line: string[]) => [line[0], ...line.slice(1).map((v) => (v === '' ? null : Number(v)))];

/** The headline figures as the model page must show them. */
const pageFigures = (e: Expected) => [
  fmt.integer(e.total_requests),
  fmt.percent(e.success_rate),
  `error rate ${fmt.percent(e.error_rate, 2)}`,
  fmt.ms(e.response_time),
  fmt.ms(e.p50),
  fmt.ms(e.p95),
  fmt.ms(e.p99),
  fmt.usd(e.cost_per_request, 4),
  `total ${fmt.usd(e.total_cost)}`,
];
const shownFigures = ($: cheerio.CheerioAPI) =>
  [
    'div[data-metric="total_requests"] > strong',
    'div[data-metric="success_rate"] > strong',
    'span[data-metric="error_rate"]',
    'div[data-metric="response_time"] > strong',
    'span[data-metric="p50"]',
    'span[data-metric="p95"]',
    'span[data-metric="p99"]',
    'div[data-metric="cost_per_request"] > strong',
    'span[data-metric="total_cost"]',
  ].map((sel) => text($(`#model-performance ${sel}`)));

type ChartJson = { labels: string[]; series: { name: string; data: (number | null)[] }[] };
const charts = ($: cheerio.CheerioAPI) =>
  Object.fromEntries(
    $('figure.chart')
      .toArray()
      .map((fig) => [
        $(fig).attr('id')!,
        { json: JSON.parse($(fig).find('.ct-chart').attr('data-chart')!) as ChartJson, rows: $(fig).find('tbody tr').length },
      ]),
  );

describe('GET /platform/ai-management/models/:id', () => {
  it('when the model has usage, then its figures, buckets and CSV equal a brute-force count over its raw rows, raw and rolled up', async () => {
    const rows = await rawRows(t.db, 'model_id', A.id);
    const totals: Record<Range, number> = { '1h': 6, '24h': 11, '7d': 13, '30d': 15 };
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await runRollup({ db: t.db });
      for (const range of RANGES) {
        const res = await admin
          .get(modelUrl(A, { range }))
          .expect(200)
          .expect('vary', /HX-Request/);
        const now = Date.now();
        const $ = cheerio.load(res.text);
        const e = expected(rows, range, now);
        expect(e.total_requests, `${stage} ${range}`).toBe(totals[range]);
        expect(shownFigures($), `${stage} ${range}`).toEqual(pageFigures(e));
        const service = (await modelMetrics(t.db, [A.id], range, new Date())).get(A.id)!;
        expect(differences(service.headline, e), `${stage} ${range}`).toEqual([]);

        const c = charts($);
        expect(Object.keys(c)).toEqual(['chart-latency', 'chart-throughput', 'chart-errors']);
        const throughput = c['chart-throughput'].json.series[0].data as number[];
        expect(throughput.reduce((x, y) => x + y, 0)).toBe(e.total_requests);
        for (const { json, rows: tableRows } of Object.values(c)) {
          expect(tableRows).toBe(json.labels.length);
          for (const s of json.series) expect(s.data).toHaveLength(json.labels.length);
        }
        expect($('#model-performance nav.ranges a[aria-current="page"]').attr('href')).toBe(modelUrl(A, { range }));

        const csv = await admin.get(modelUrl(A, { range, format: 'csv' })).expect(200);
        const csvNow = Date.now();
        const [header, ...lines] = csvRows(csv.text);
        expect(header).toEqual(['bucket_start_utc', 'requests', 'response_time_ms', 'p95_ms', 'error_rate_pct', 'cost_usd']);
        expect(lines).toHaveLength(throughput.length);
        expect(
          differences(
            lines.map(csvValues),
            lines.map((l) => expectedBucket(rows, range, csvNow, l[0])),
          ),
          `${stage} ${range}`,
        ).toEqual([]);
        expect(lines.reduce((x, l) => x + Number(l[1]), 0)).toBe(e.total_requests);
        expect(Date.parse(lines[0][0])).toBeGreaterThanOrEqual(csvNow - RANGE_MS[range] - 5_000);
      }
    }
  });

  it('when the model has no requests in the range, then "no data" instead of rates, #no-data and no chart', async () => {
    const $ = cheerio.load((await admin.get(modelUrl(C, { range: '24h' })).expect(200)).text);
    expect(shownFigures($)).toEqual([
      '0',
      'no data',
      'error rate no data',
      'no data',
      'no data',
      'no data',
      'no data',
      'no data',
      'total $0.00',
    ]);
    expect($('#no-data')).toHaveLength(1);
    expect($('figure.chart, .ct-chart')).toHaveLength(0);
    expect($('#model-performance').text()).not.toMatch(/(?<![\d.])0(\.0+)?%/);
    const week = cheerio.load((await admin.get(modelUrl(C, { range: '7d' })).expect(200)).text);
    expect(text(week('div[data-metric="total_requests"] > strong'))).toBe('1');
  });

  it('when the page is shown, then it names the model, links its provider and lists its type, status, prices and context window', async () => {
    const $ = cheerio.load((await admin.get(modelUrl(B)).expect(200)).text);
    expect(text($('h1'))).toBe(`${B.display_name} beta`);
    expect($('#model-status').attr('class')).toBe('badge model-beta');
    expect($('#model-provider').attr('href')).toBe(`/platform/ai-management/providers/${B.provider_name}`);
    expect(['type', 'input_price', 'output_price', 'context_window'].map((k) => text($(`[data-fact="${k}"]`)))).toEqual([
      'llm',
      '$0.003',
      '$0.004',
      '16,384 tokens',
    ]);
    expect($('#model-performance nav.ranges a[aria-current="page"]').text()).toBe('24 hours');
    expect($('link[href="/static/vendor/chartist.css"], script[src="/static/js/charts.js"]')).toHaveLength(2);
    expect(text(cheerio.load((await admin.get(`${PATH}/${B.id.toUpperCase()}`).expect(200)).text)('h1'))).toBe(`${B.display_name} beta`);
  });

  it('when the model serves features and was deployed, then "serving now" links each feature\'s models tab and the history lists its deployments newest first', async () => {
    const [f, g] = [await makeFeature(t.db), await makeFeature(t.db)];
    const [m] = await makeModels();
    const assign = { model_id: m.id, assigned_by: 'test' };
    const [live] = await t
      .db('feature_model_assignments')
      .insert([
        { ...assign, feature_id: f.id, environment: 'production' },
        { ...assign, feature_id: g.id, environment: 'staging' },
        { ...assign, feature_id: g.id, environment: 'development', is_active: false, deactivated_at: ago(10) },
      ])
      .returning('id');
    const deployment = (minutes: number, fields: Record<string, unknown>) => ({
      feature_id: f.id,
      model_id: m.id,
      environment: 'production',
      kind: 'assign',
      requested_by: 'someone@example.test',
      started_at: ago(minutes),
      finished_at: ago(minutes - 1),
      ...fields,
    });
    const [ok, failed] = await t
      .db('deployments')
      .insert([
        deployment(60, { status: 'success', assignment_id: live.id }),
        deployment(30, { status: 'failed', kind: 'rollback', environment: 'staging' }),
      ])
      .returning('id');
    await t.db('deployments').insert(deployment(5, { model_id: A.id, status: 'failed' }));

    const $ = cheerio.load((await admin.get(modelUrl(m)).expect(200)).text);
    const serving = $('#model-serving li')
      .toArray()
      .map((li) => [text($(li)), $(li).find('a').attr('href')]);
    const link = (slug: string, env: string) => `/platform/ai-management/features?feature=${slug}&tab=models&environment=${env}`;
    const expected = (
      [
        [f, 'production'],
        [g, 'staging'],
      ] as const
    )
      .slice()
      .sort((x, y) => x[0].name.localeCompare(y[0].name));
    expect(serving).toEqual(expected.map(([ft, env]) => [`${ft.display_name} in ${env}`, link(ft.name, env)]));
    const history = $('#deployment-history tbody tr')
      .toArray()
      .map((tr) => ({
        id: $(tr).attr('data-deployment'),
        href: $(tr).find('a').attr('href'),
        cells: $(tr)
          .children()
          .toArray()
          .slice(1, 6)
          .map((c) => text($(c))),
      }));
    expect(history).toEqual([
      {
        id: failed.id,
        href: `/platform/ai-management/deployments/${failed.id}`,
        cells: ['Test feature', 'staging', 'rollback', 'failed', 'someone@example.test'],
      },
      {
        id: ok.id,
        href: `/platform/ai-management/deployments/${ok.id}`,
        cells: ['Test feature', 'production', 'assign', 'success', 'someone@example.test'],
      },
    ]);
  });

  it('when a model has more than 50 deployments, then the history shows the 50 newest', async () => {
    const f = await makeFeature(t.db);
    const [m] = await makeModels();
    await t.db('deployments').insert(
      Array.from({ length: 51 }, (_, i) => ({
        feature_id: f.id,
        model_id: m.id,
        environment: 'development',
        kind: 'assign',
        status: 'failed',
        requested_by: `n${i}`,
        started_at: ago(100 - i),
        finished_at: ago(99 - i),
      })),
    );
    const $ = cheerio.load((await admin.get(modelUrl(m)).expect(200)).text);
    const by = $('#deployment-history tbody tr')
      .toArray()
      .map((tr) => text($(tr).children().eq(5)));
    expect(by).toEqual(Array.from({ length: 50 }, (_, i) => `n${50 - i}`));
  });

  it('when an admin looks, then Configure and Deploy link to the edit and deploy pages; a viewer sees neither', async () => {
    const $ = cheerio.load((await admin.get(modelUrl(A)).expect(200)).text);
    expect([$('#configure-model').attr('href'), $('#deploy-model').attr('href')]).toEqual([
      `${PATH}/${A.id}/edit`,
      `${PATH}/${A.id}/deploy`,
    ]);
    const v = cheerio.load((await viewer.get(modelUrl(A)).expect(200)).text);
    expect(v('#model-performance')).toHaveLength(1);
    expect(v(`a[href^="${PATH}/${A.id}/"], #configure-model, #deploy-model`)).toHaveLength(0);
  });

  it('when htmx follows a range link, then only #model-performance comes back, without the shell, varying by HX-Request', async () => {
    const page = cheerio.load((await admin.get(modelUrl(A)).expect(200)).text);
    const week = page('#model-performance nav.ranges a')
      .toArray()
      .find((a) => page(a).text() === '7 days')!;
    expect([page(week).attr('hx-get'), page(week).attr('hx-target'), page(week).attr('hx-swap'), page(week).attr('hx-push-url')]).toEqual([
      modelUrl(A, { range: '7d' }),
      '#model-performance',
      'outerHTML',
      'true',
    ]);
    const res = await admin
      .get(page(week).attr('hx-get')!)
      .set(hx)
      .expect(200)
      .expect('vary', /HX-Request/);
    expect(res.text).not.toMatch(/<html|<header class="top"|id="model-serving"/);
    const $ = cheerio.load(res.text, null, false);
    expect(
      $.root()
        .children()
        .toArray()
        .map((e) => $(e).attr('id')),
    ).toEqual(['model-performance']);
    expect($('nav.ranges a[aria-current="page"]').text()).toBe('7 days');
    expect(text($('div[data-metric="total_requests"] > strong'))).toBe('13');
  });

  it.each([
    ['an unknown model', 404, 'Model not found', () => modelUrl({ id: crypto.randomUUID() })],
    ['an id that is not a uuid', 404, 'Page not found', () => `${PATH}/not-a-uuid`],
    ['range=2h', 400, 'range must be one of 1h, 24h, 7d, 30d', () => modelUrl(A, { range: '2h' })],
    ['format=pdf', 400, 'format must be one of html, csv', () => modelUrl(A, { format: 'pdf' })],
  ])('when asked for %s, then %i saying "%s"', async (_what, status, message, url) => {
    const res = await admin.get(url()).expect(status);
    expect(text(cheerio.load(res.text)('#error p').first())).toBe(message);
  });

  it('when nobody is signed in, then the model and compare pages redirect to /login and come back', async () => {
    for (const path of [modelUrl(A), compareUrl([A.id, B.id])]) {
      const res = await request(t.app).get(path).expect(303);
      expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
  });
});

describe('GET /platform/ai-management/models/compare', () => {
  /** The comparison table's cells, row by row, in the order of the models asked for. */
  const table = ($: cheerio.CheerioAPI, models: ModelRef[], row: string) =>
    models.map((m) => text($(`#comparison tr[data-row="${row}"] td[data-model="${m.id}"]`)));

  it.each([[2], [4]])("when %i models are compared, then each column equals a brute-force count over that model's raw rows", async (n) => {
    const models = [A, B, C, D].slice(0, n);
    for (const range of RANGES) {
      const res = await admin
        .get(
          compareUrl(
            models.map((m) => m.id),
            { range },
          ),
        )
        .expect(200)
        .expect('vary', /HX-Request/);
      const now = Date.now();
      const $ = cheerio.load(res.text);
      const e = await Promise.all(models.map(async (m) => expected(await rawRows(t.db, 'model_id', m.id), range, now)));
      expect(
        $('#comparison thead th[data-model]')
          .toArray()
          .map((th) => [text($(th)), $(th).find('a').attr('href')]),
      ).toEqual(models.map((m) => [m.display_name, modelUrl(m, { range })]));
      expect(table($, models, 'status')).toEqual(['available', 'beta', 'deprecated', 'offline'].slice(0, n));
      expect(table($, models, 'input_price')).toEqual(['$0.0015', '$0.003', '$0.0045', '$0.006'].slice(0, n));
      expect(table($, models, 'output_price')).toEqual(['$0.002', '$0.004', '$0.006', '$0.008'].slice(0, n));
      expect(table($, models, 'p50'), range).toEqual(e.map((x) => fmt.ms(x.p50)));
      expect(table($, models, 'p95'), range).toEqual(e.map((x) => fmt.ms(x.p95)));
      expect(table($, models, 'success_rate'), range).toEqual(e.map((x) => fmt.percent(x.success_rate)));
      expect(table($, models, 'cost_per_request'), range).toEqual(e.map((x) => fmt.usd(x.cost_per_request, 4)));
      expect(table($, models, 'total_requests'), range).toEqual(e.map((x) => fmt.integer(x.total_requests)));
      expect(table($, models, 'total_cost'), range).toEqual(e.map((x) => fmt.usd(x.total_cost)));

      const c = charts($);
      expect(Object.keys(c)).toEqual(['chart-compare-latency', 'chart-compare-errors']);
      for (const { json, rows } of Object.values(c)) {
        expect(json.series.map((s) => s.name)).toEqual(models.map((m) => m.display_name));
        expect(rows).toBe(json.labels.length);
        for (const s of json.series) expect(s.data).toHaveLength(json.labels.length);
      }
      const csv = await admin
        .get(
          compareUrl(
            models.map((m) => m.id),
            { range, format: 'csv' },
          ),
        )
        .expect(200);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      const [header, ...lines] = csvRows(csv.text);
      expect(header[0]).toBe('model_id');
      for (const [i, m] of models.entries()) {
        const mine = lines.filter((l) => l[0] === m.id);
        expect(mine).toHaveLength(c['chart-compare-latency'].json.labels.length);
        expect(
          mine.reduce((x, l) => x + Number(l[2]), 0),
          `${range} ${m.display_name}`,
        ).toBe(e[i].total_requests);
      }
    }
  });

  it('when compared, then the provider and where each model serves now are shown', async () => {
    const f = await makeFeature(t.db);
    const [m, other] = await makeModels();
    await t.db('feature_model_assignments').insert({ feature_id: f.id, model_id: m.id, environment: 'staging', assigned_by: 'test' });
    const $ = cheerio.load((await admin.get(compareUrl([m.id, other.id])).expect(200)).text);
    const providerName = (await t.db('ai_providers').where({ name: m.provider_name }).first()).display_name;
    expect(table($, [m, other], 'provider')).toEqual([providerName, providerName]);
    expect(table($, [m, other], 'serving')).toEqual([`${f.display_name} (staging)`, 'nowhere']);
    expect($(`#comparison td[data-model="${m.id}"] a`).last().attr('href')).toBe(
      `/platform/ai-management/features?feature=${f.name}&tab=models&environment=staging`,
    );
    expect($('#no-data')).toHaveLength(1);
  });

  it.each([
    ['one model', 400, () => [A.id], 'Choose at least 2 models to compare (1 chosen)'],
    ['no model', 400, () => [''], 'Choose at least 2 models to compare (0 chosen)'],
    ['five models', 400, () => [A.id, B.id, C.id, D.id, crypto.randomUUID()], 'Compare at most 4 models at a time (5 chosen)'],
    ['a duplicate', 400, () => [A.id, B.id, A.id], () => `Model ${A.id} is listed twice: choose 2 to 4 different models`],
    [
      'the same id in another case',
      400,
      () => [A.id, B.id.toUpperCase(), B.id],
      () => `Model ${B.id} is listed twice: choose 2 to 4 different models`,
    ],
    [
      'a malformed id',
      400,
      () => [A.id, "robert'); drop table ai_models;--"],
      "“robert'); drop table ai_models;--” is not a model id (a uuid)",
    ],
    [
      'an unknown id',
      404,
      () => [A.id, '6f1c2a5e-8d3b-4c7a-9e0f-1a2b3c4d5e6f'],
      'No model has the id 6f1c2a5e-8d3b-4c7a-9e0f-1a2b3c4d5e6f',
    ],
  ])('when the ids hold %s, then %i with a message saying what is wrong, and the picker to fix it', async (_what, status, ids, message) => {
    const res = await admin.get(compareUrl(ids())).expect(status);
    const $ = cheerio.load(res.text);
    expect(text($('#compare-error p'))).toBe(typeof message === 'function' ? message() : message);
    expect($('#compare-error').attr('role')).toBe('alert');
    expect($('#comparison, figure.chart')).toHaveLength(0);
    const checked = $('#compare-picker input[name="ids"][checked]')
      .toArray()
      .map((i) => $(i).attr('value'));
    expect(checked).toEqual([A, B, C, D].filter((m) => ids().includes(m.id)).map((m) => m.id));
    expect($('#compare-picker input[name="ids"]').length).toBeGreaterThan(4);
  });

  it('when the range is unknown, then 400 naming the ranges', async () => {
    const res = await admin.get(compareUrl([A.id, B.id], { range: '2h' })).expect(400);
    expect(text(cheerio.load(res.text)('#error p').first())).toBe('range must be one of 1h, 24h, 7d, 30d');
  });

  it('when no ids are given, then the picker lists every model as a checkbox in a plain GET form', async () => {
    const $ = cheerio.load((await admin.get(COMPARE).expect(200)).text);
    const form = $('form#compare-picker');
    expect([form.attr('method'), form.attr('action')]).toEqual(['get', COMPARE]);
    const values = form
      .find('input[type="checkbox"][name="ids"]')
      .toArray()
      .map((i) => $(i).attr('value'));
    const all = new Set(await t.db('ai_models').pluck('id'));
    expect(values).toEqual(expect.arrayContaining([A.id, B.id, C.id, D.id]));
    expect(values.filter((v) => !all.has(v))).toEqual([]);
    expect(new Set(values).size).toBe(values.length);
    expect(form.find('select[name="range"] option[selected]').attr('value')).toBe('24h');
    expect($('#comparison, #compare-error')).toHaveLength(0);
  });

  it('when the picker is submitted (repeated ids), then the same comparison as ids=a,b', async () => {
    const res = await admin.get(`${COMPARE}?ids=${A.id}&ids=${B.id}&range=7d`).expect(200);
    const $ = cheerio.load(res.text);
    expect(table($, [A, B], 'total_requests')).toEqual(['13', '3']);
    expect($('#compare-results nav.ranges a[aria-current="page"]').attr('href')).toBe(compareUrl([A.id, B.id], { range: '7d' }));
  });

  it('when htmx follows a range link, then only #compare-results comes back, without the shell', async () => {
    const res = await admin
      .get(compareUrl([A.id, B.id], { range: '1h' }))
      .set({ 'HX-Request': 'true', 'HX-Target': 'section#compare-results' })
      .expect(200)
      .expect('vary', /HX-Request/);
    expect(res.text).not.toMatch(/<html|<header class="top"|compare-picker/);
    const $ = cheerio.load(res.text, null, false);
    expect(
      $.root()
        .children()
        .toArray()
        .map((e) => $(e).attr('id')),
    ).toEqual(['compare-results']);
    expect(table($, [A, B], 'total_requests')).toEqual(['6', '1']);
  });
});
