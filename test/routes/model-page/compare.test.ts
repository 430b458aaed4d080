import crypto from 'node:crypto';
import type { CheerioAPI } from 'cheerio';
import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RANGES, rawRows } from '../../metrics/brute-force.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature } from '../../setup/factories.ts';
import { errorMessage, text } from '../../setup/html.ts';
import type { Agent } from '../../setup/session.ts';
import { COMPARE, charts, compareUrl, csvRows, expected, fmt, makeModels, modelUrl, openModelPages, type PageModel } from './setup.ts';

// The compare page, /platform/ai-management/models/compare?ids=…: 2 to 4 models side by side, each
// column against a brute-force count over that model's raw rows; a bad choice of ids says what is wrong.

let t: TestContext;
let admin: Agent;
/** Four models of a provider of this file's own: A busy, B light, C only 3 days ago, D never used. */
let A: PageModel, B: PageModel, C: PageModel, D: PageModel;
beforeAll(async () => {
  ({ t, admin, A, B, C, D } = await openModelPages());
});
afterAll(() => t?.close());

describe('GET /platform/ai-management/models/compare', () => {
  /** The comparison table's cells, row by row, in the order of the models asked for. */
  const table = ($: CheerioAPI, models: PageModel[], row: string) =>
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
      const $ = load(res.text);
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
      expect(header.slice(0, 3)).toEqual(['model', 'model_id', 'bucket_start_utc']);
      for (const [i, m] of models.entries()) {
        const mine = lines.filter((l) => l[1] === m.id);
        expect(mine).toHaveLength(c['chart-compare-latency'].json.labels.length);
        expect(mine.every((l) => l[0] === m.display_name)).toBe(true);
        // No float noise: times to 0.1 ms, rates to 0.001 %, costs to 1e-8 USD.
        for (const l of mine) {
          const [time, p95, rate, cost] = [l[4], l[5], l[6], l[7]];
          for (const [cell, decimals] of [
            [time, 1],
            [p95, 1],
            [rate, 3],
            [cost, 8],
          ] as const)
            expect(cell.split('.')[1]?.length ?? 0, `${cell} has at most ${decimals} decimals`).toBeLessThanOrEqual(decimals);
        }
        expect(
          mine.reduce((x, l) => x + Number(l[3]), 0),
          `${range} ${m.display_name}`,
        ).toBe(e[i].total_requests);
      }
    }
  });

  it('when compared, then the provider and where each model serves now are shown', async () => {
    const f = await makeFeature(t.db);
    const [m, other] = await makeModels(t);
    await makeAssignment(t.db, { feature_id: f.id, model_id: m.id, environment: 'staging' });
    const $ = load((await admin.get(compareUrl([m.id, other.id])).expect(200)).text);
    const providerName = (await t.db('ai_providers').where({ name: m.provider_name }).first())!.display_name;
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
    const $ = load(res.text);
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
    expect(errorMessage(res.text)).toBe('range must be one of 1h, 24h, 7d, 30d');
  });

  it('when no ids are given, then the picker lists every model as a checkbox in a plain GET form', async () => {
    const $ = load((await admin.get(COMPARE).expect(200)).text);
    const form = $('form#compare-picker');
    expect([form.attr('method'), form.attr('action')]).toEqual(['get', COMPARE]);
    const values = form
      .find('input[type="checkbox"][name="ids"]')
      .toArray()
      .map((i) => $(i).attr('value'));
    const all = new Set<string | undefined>(await t.db('ai_models').pluck('id'));
    expect(values).toEqual(expect.arrayContaining([A.id, B.id, C.id, D.id]));
    expect(values.filter((v) => !all.has(v))).toEqual([]);
    expect(new Set(values).size).toBe(values.length);
    expect(form.find('select[name="range"] option[selected]').attr('value')).toBe('24h');
    expect($('#comparison, #compare-error')).toHaveLength(0);
  });

  it('when the picker is submitted (repeated ids), then the same comparison as ids=a,b', async () => {
    const res = await admin.get(`${COMPARE}?ids=${A.id}&ids=${B.id}&range=7d`).expect(200);
    const $ = load(res.text);
    expect(table($, [A, B], 'total_requests')).toEqual(['13', '3']);
    expect($('#compare-results nav.ranges a[aria-current="page"]').attr('href')).toBe(compareUrl([A.id, B.id], { range: '7d' }));
  });

  it('when htmx follows a range link, then the results and the picker come back without the shell, the picker on the same range', async () => {
    const $page = load((await admin.get(compareUrl([A.id, B.id], { range: '24h' })).expect(200)).text);
    const link = $page('#compare-results nav.ranges a').filter((_, a) => $page(a).text() === '1 hour');
    expect(link.attr('hx-target')).toBe('#compare');
    const res = await admin
      .get(link.attr('hx-get') ?? '')
      .set({ 'HX-Request': 'true', 'HX-Target': 'div#compare' })
      .expect(200)
      .expect('vary', /HX-Request/);
    expect(res.text).not.toMatch(/<html|<header class="top"/);
    const $ = load(res.text, null, false);
    expect(
      $.root()
        .children()
        .toArray()
        .map((e) => $(e).attr('id')),
    ).toEqual(['compare']);
    expect($('#compare > section#compare-results, #compare > form#compare-picker')).toHaveLength(2);
    expect($('#compare-picker select[name="range"] option[selected]').attr('value')).toBe('1h');
    expect(table($, [A, B], 'total_requests')).toEqual(['6', '1']);
  });
});
