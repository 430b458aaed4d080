import crypto from 'node:crypto';
import { load } from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelMetrics } from '../../../src/metrics/model-metrics.ts';
import { runRollup } from '../../../src/metrics/rollup.ts';
import { differences, RANGE_MS, RANGES, type Range, rawRows } from '../../metrics/brute-force.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature } from '../../setup/factories.ts';
import { errorMessage, hx, text } from '../../setup/html.ts';
import type { NewRow } from '../../setup/rows.ts';
import type { Agent } from '../../setup/session.ts';
import {
  ago,
  charts,
  compareUrl,
  csvRows,
  csvValues,
  expected,
  expectedBucket,
  makeModels,
  modelUrl,
  openModelPages,
  PATH,
  type PageModel,
  pageFigures,
  shownFigures,
} from './setup.ts';

// A model's page: its figures, charts and CSV over each range (brute force over its raw rows, raw and
// rolled up), where it serves, its deployments, and its range links as htmx fragments.

let t: TestContext;
let admin: Agent;
let viewer: Agent;
/** Four models of a provider of this file's own: A busy, B light, C only 3 days ago, D never used. */
let A: PageModel, B: PageModel, C: PageModel;
beforeAll(async () => {
  ({ t, admin, viewer, A, B, C } = await openModelPages());
});
afterAll(() => t?.close());

/**
 * A model of its own serving f in production and g in staging (and once g in development), with two
 * deployments of its own to f (a success, then a failed rollback) and a later one of model A.
 */
async function servingAndDeployed() {
  const [f, g] = [await makeFeature(t.db), await makeFeature(t.db)];
  const [m] = await makeModels(t);
  const live = await makeAssignment(t.db, { model_id: m.id, feature_id: f.id, environment: 'production' });
  await makeAssignment(t.db, { model_id: m.id, feature_id: g.id, environment: 'staging' });
  await makeAssignment(t.db, { model_id: m.id, feature_id: g.id, environment: 'development', is_active: false, deactivated_at: ago(10) });
  const deployment = (minutes: number, fields: Partial<NewRow<'deployments'>>): NewRow<'deployments'> => ({
    feature_id: f.id,
    model_id: m.id,
    environment: 'production',
    kind: 'assign',
    requested_by: 'someone@example.test',
    started_at: ago(minutes),
    finished_at: ago(minutes - 1),
    ...fields,
  });
  const [ok, failed]: { id: string }[] = await t
    .db('deployments')
    .insert([
      deployment(60, { status: 'success', assignment_id: live.id }),
      deployment(30, { status: 'failed', kind: 'rollback', environment: 'staging' }),
    ])
    .returning('id');
  await t.db('deployments').insert(deployment(5, { model_id: A.id, status: 'failed' }));
  return { f, g, m, ok, failed };
}

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
        const $ = load(res.text);
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
    const $ = load((await admin.get(modelUrl(C, { range: '24h' })).expect(200)).text);
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
    const week = load((await admin.get(modelUrl(C, { range: '7d' })).expect(200)).text);
    expect(text(week('div[data-metric="total_requests"] > strong'))).toBe('1');
  });

  it('when the page is shown, then it names the model, links its provider and lists its type, status, prices and context window', async () => {
    const $ = load((await admin.get(modelUrl(B)).expect(200)).text);
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
    expect(text(load((await admin.get(`${PATH}/${B.id.toUpperCase()}`).expect(200)).text)('h1'))).toBe(`${B.display_name} beta`);
  });

  it('when the model serves features and was deployed, then "serving now" links each feature\'s models tab and the history lists its deployments newest first', async () => {
    const { f, g, m, ok, failed } = await servingAndDeployed();
    const $ = load((await admin.get(modelUrl(m)).expect(200)).text);
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
    const [m] = await makeModels(t);
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
    const $ = load((await admin.get(modelUrl(m)).expect(200)).text);
    const by = $('#deployment-history tbody tr')
      .toArray()
      .map((tr) => text($(tr).children().eq(5)));
    expect(by).toEqual(Array.from({ length: 50 }, (_, i) => `n${50 - i}`));
  });

  it('when an admin looks, then Configure and Deploy link to the edit and deploy pages; a viewer sees neither', async () => {
    const $ = load((await admin.get(modelUrl(A)).expect(200)).text);
    expect([$('#configure-model').attr('href'), $('#deploy-model').attr('href')]).toEqual([
      `${PATH}/${A.id}/edit`,
      `${PATH}/${A.id}/deploy`,
    ]);
    const v = load((await viewer.get(modelUrl(A)).expect(200)).text);
    expect(v('#model-performance')).toHaveLength(1);
    expect(v(`a[href^="${PATH}/${A.id}/"], #configure-model, #deploy-model`)).toHaveLength(0);
  });

  it('when htmx follows a range link, then only #model-performance comes back, without the shell, varying by HX-Request', async () => {
    const page = load((await admin.get(modelUrl(A)).expect(200)).text);
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
      .set(hx('section#model-performance'))
      .expect(200)
      .expect('vary', /HX-Request/);
    expect(res.text).not.toMatch(/<html|<header class="top"|id="model-serving"/);
    const $ = load(res.text, null, false);
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
    expect(errorMessage(res.text)).toBe(message);
  });

  it('when nobody is signed in, then the model and compare pages redirect to /login and come back', async () => {
    for (const path of [modelUrl(A), compareUrl([A.id, B.id])]) {
      const res = await request(t.app).get(path).expect(303);
      expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
  });
});
