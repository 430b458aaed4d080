import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureRow } from '../../../src/db/queries/features.ts';
import type { Environment } from '../../../src/domain.ts';
import { createFormat } from '../../../src/format.ts';
import { featureMetrics } from '../../../src/metrics/feature-metrics.ts';
import { RANGES, type RangeName } from '../../../src/metrics/ranges.ts';
import { breachesOf } from '../../../src/metrics/scores.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature } from '../../setup/factories.ts';
import { tableRows, text } from '../../setup/html.ts';
import { insertUsage, MINUTE, type ModelRef } from '../../setup/usage-factory.ts';
import { ago, type Features, featureRow, featuresUrl, openFeatures, seededFeature, use } from './setup.ts';

// A feature's overview tab: figures, charts and model changes of each range, equal to what the
// metrics service says for the same range; its CSV download.

const fmt = createFormat('UTC');

let c: Features;
let t: TestContext;
let mini: ModelRef;
let sonnet: ModelRef;
beforeAll(async () => {
  c = await openFeatures();
  ({ t, mini, sonnet } = c);
});
afterAll(() => c?.close());

async function expectOverviewOf($: CheerioAPI, f: FeatureRow, range: RangeName, environment: Environment | null = 'production') {
  const m = await featureMetrics(t.db, f, range, new Date(), 'UTC', environment);
  const { realtime: r, usage: u, costs: c, performance: p } = m;
  const metric = (k: string) => text($(`#feature-overview [data-metric="${k}"] strong`));
  const stat = (k: string) => text($(`#feature-overview [data-stat="${k}"]`));
  // A breached threshold replaces the card of the metric it judges: p95 for response time, error rate for success rate.
  const breached = new Set(breachesOf(f, r, null).map((b) => b.kind));
  expect(
    $('#breach-banner li')
      .toArray()
      .map((li) => $(li).attr('data-breach')),
  ).toEqual([...breached]);
  expect([
    metric('uptime'),
    breached.has('p95') ? metric('p95') : metric('response_time'),
    breached.has('p95') ? '' : text($('[data-metric="response_time"] .sub')),
    breached.has('error_rate') ? metric('error_rate') : metric('success_rate'),
    metric('cost_per_request'),
  ]).toEqual([
    fmt.percent(r.uptime),
    breached.has('p95') ? fmt.ms(r.p95) : fmt.ms(r.response_time),
    breached.has('p95') ? '' : `p95 ${fmt.ms(r.p95)}`,
    breached.has('error_rate') ? fmt.percent(r.error_rate) : fmt.percent(r.success_rate),
    fmt.usd(r.cost_per_request, 4),
  ]);
  expect(text($('[data-metric="cost_per_request"] .trend'))).toBe(fmt.change(c.cost_per_request_trend));
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
  expect(tableRows($, '#cost-by-model')).toEqual(c.total_cost ? c.cost_breakdown.map(share((x) => x)) : []);
  expect(tableRows($, '#cost-by-direction')).toEqual(
    c.total_cost ? c.cost_by_direction.map(share((x) => `${fmt.titleCase(x)} tokens`)) : [],
  );
  expect(stat('grade')).toBe(p ? `${p.grade} ${fmt.decimal(p.score, 0)}/100` : '');
  return m;
}

type ChartJson = {
  labels: string[];
  markers: { index: number; text: string; label: string }[];
  threshold: { value: number; label: string } | null;
  partial: number[];
  series: { name: string; data: (number | null)[] }[];
};
/** Every chart on the page: its id, the JSON it hands to chartist and its data table's row count. */
const charts = ($: CheerioAPI) =>
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

describe('GET /platform/ai-management/features, overview tab', () => {
  it.each(['1h', '24h', '7d', '30d'] as RangeName[])(
    'when the range is %s, then figures, charts and model changes equal the metrics service',
    async (range) => {
      const { f, finished } = await seededFeature(c);
      const $ = await c.page(featuresUrl({ feature: f.name, range }));
      expect($('#feature-overview nav.ranges a[aria-current="page"]').attr('href')).toBe(
        featuresUrl({ feature: f.name, tab: 'overview', range }),
      );
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
          expect(c.json.markers.map((k) => [k.label, k.text])).toEqual([[change, `→ ${sonnet.display_name}`]]);
          expect(c.json.labels[c.json.markers[0].index]).toBe(bucketLabel(range, finished));
        }
        expect(text($('.changes h4'))).toBe('Model changes in production in this range');
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
    const $ = await c.page(featuresUrl({ feature: f.name, range: '24h' }));
    const m = await expectOverviewOf($, await featureRow(t, f.id), '24h');
    expect(m.usage.total_requests).toBe(0);
    for (const k of ['uptime', 'response_time', 'success_rate', 'cost_per_request'])
      expect(text($(`[data-metric="${k}"] strong`))).toBe('no data');
    expect(text($('[data-stat="peak_usage_hour"]'))).toBe('no data');
    expect($('#no-data')).toHaveLength(1);
    expect($('.ct-chart, #chart-errors, #cost-by-model, [data-stat="grade"]')).toHaveLength(0);
    expect($('#feature-overview').text()).toContain('No requests in this range: no score.');
    expect($('#feature-overview').text()).not.toMatch(/(?<![\d.])0(\.0+)?%/);
  });

  it('when the range is 24h, then each chart marks the buckets the range cuts short and its table says "from HH:MM" and "(so far)"', async () => {
    const { f } = await seededFeature(c);
    const $ = await c.page(featuresUrl({ feature: f.name, range: '24h' }));
    const all = charts($);
    expect(all.map((chart) => chart.id)).toEqual(['chart-latency', 'chart-throughput', 'chart-errors']);
    for (const chart of all) {
      const last = chart.json.labels.length - 1;
      // The range starts 24 h before now, inside an hour (short of landing on one to the millisecond); the last hour is under way.
      expect(chart.json.partial, chart.id).toEqual([0, last]);
      const heads = $(`#${chart.id} tbody th`)
        .toArray()
        .map((th) => text($(th)));
      expect(heads[0], chart.id).toBe(`from ${chart.json.labels[0]}`);
      expect(heads[last], chart.id).toBe(`${chart.json.labels[last]} (so far)`);
      expect(heads.slice(1, last), chart.id).toEqual(chart.json.labels.slice(1, last));
      const rows = $(`#${chart.id} tbody tr`);
      expect($(`#${chart.id} tbody tr.partial`).toArray(), chart.id).toEqual([rows.get(0), rows.get(last)]);
    }
  });

  it('when format=csv, then a CSV attachment with one row per bucket whose requests sum to the total', async () => {
    const { f } = await seededFeature(c);
    for (const [range, total] of [
      ['24h', 4],
      ['7d', 5],
    ] as const) {
      const res = await c.admin.agent.get(featuresUrl({ feature: f.name, range, format: 'csv' })).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="?${f.name}-production-${range}\\.csv"?$`));
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

describe('GET /platform/ai-management/features, overview tab per environment, breaches and the live check', () => {
  it('when staging has a slow trial, then the overview shows production by default, staging when chosen (kept across tabs), and markers of the viewed environment only', async () => {
    const { f } = await seededFeature(c);
    await insertUsage(t.db, [use(f, mini, 20, { environment: 'staging', response_time_ms: 60_000, status: 'timeout' })]);
    const trial = await makeAssignment(t.db, {
      feature_id: f.id,
      model_id: mini.id,
      environment: 'staging',
      assigned_at: ago(30 * MINUTE),
    });
    await t.db('deployments').insert({
      assignment_id: trial.id,
      feature_id: f.id,
      environment: 'staging',
      model_id: mini.id,
      previous_model_id: sonnet.id,
      kind: 'assign',
      status: 'success',
      requested_by: 'test',
      started_at: ago(31 * MINUTE),
      finished_at: ago(30 * MINUTE),
    });
    const production = await c.page(featuresUrl({ feature: f.name, range: '24h' }));
    expect(text(production('[data-stat="total_requests"]'))).toBe('4');
    expect(text(production('#cost-by-model caption'))).toBe('By model (production)');
    const markers = (chart: string, $: CheerioAPI) =>
      charts($)
        .find((x) => x.id === chart)!
        .json.markers.map((m) => m.text);
    expect(markers('chart-latency', production)).toEqual([`→ ${sonnet.display_name}`]);

    const staging = await c.page(featuresUrl({ feature: f.name, range: '24h', environment: 'staging' }));
    await expectOverviewOf(staging, f, '24h', 'staging');
    expect(text(staging('[data-stat="total_requests"]'))).toBe('1');
    expect(text(staging('#cost-by-model caption'))).toBe('By model (staging)');
    expect(markers('chart-latency', staging)).toEqual([`→ ${mini.display_name}`]);
    expect(staging('#breach-banner li[data-breach="p95"]').text()).toContain('(last 24 hours, staging)');
    // `all` adds every environment up, labelled so, with every environment's markers.
    const all = await c.page(featuresUrl({ feature: f.name, range: '24h', environment: 'all' }));
    expect(text(all('[data-stat="total_requests"]'))).toBe('5');
    expect(text(all('#cost-by-model caption'))).toBe('By model (all environments)');
    expect(markers('chart-latency', all)).toHaveLength(2);
    // The environment is kept when the admin switches tabs.
    expect(staging('#feature-panel nav.tabs a').first().attr('href')).toContain('environment=staging');
  });

  it('when p95 is over the threshold, then a banner says so with the threshold and a link to Settings, the p95 card is breached and the charts carry the threshold', async () => {
    const f = await makeFeature(t.db, { latency_threshold_ms: 2000 });
    await insertUsage(t.db, [use(f, mini, 10, { response_time_ms: 2400 }), use(f, mini, 11, { response_time_ms: 2400 })]);
    const $ = await c.page(featuresUrl({ feature: f.name, range: '24h' }));
    expect(text($('#breach-banner li'))).toBe('p95 latency 2,400 ms is above the 2,000 ms threshold (last 24 hours, production).');
    expect($('#breach-banner a').attr('href')).toBe(featuresUrl({ feature: f.name, tab: 'settings', range: '24h' }));
    expect($('[data-metric="p95"]').hasClass('tone-bad')).toBe(true);
    expect(text($('[data-metric="p95"] strong'))).toBe('2,400 ms');
    expect(charts($).find((x) => x.id === 'chart-latency')!.json.threshold).toEqual({ value: 2000, label: 'p95 threshold 2,000 ms' });
    expect($('#chart-latency .ct-chart').attr('aria-label')).toContain('with the p95 threshold 2,000 ms');
    expect(text($('#chart-latency .chart-threshold'))).toBe('Dashed line: p95 threshold 2,000 ms');
    const calm = await makeFeature(t.db);
    const quiet = await c.page(featuresUrl({ feature: calm.name }));
    expect(quiet('#breach-banner')).toHaveLength(0);
  });

  it('when cost per request is unchanged while traffic doubles, then the card shows ±0.0% (the per-request change), not the total’s +100%', async () => {
    const f = await makeFeature(t.db);
    const day = 24 * 60;
    await insertUsage(t.db, [
      use(f, mini, day + 60),
      use(f, mini, 2 * day - 1),
      use(f, mini, 10),
      use(f, mini, 20),
      use(f, mini, 30),
      use(f, mini, 40),
      use(f, mini, 3 * day), // before the earlier range: it is a baseline
    ]);
    const $ = await c.page(featuresUrl({ feature: f.name, range: '24h' }));
    expect(text($('[data-metric="cost_per_request"] .trend'))).toBe('±0.0%');
    expect(text($('.card .total .trend'))).toBe('+100.0%');
    const fresh = await makeFeature(t.db);
    await insertUsage(t.db, [use(fresh, mini, 10)]);
    const first = await c.page(featuresUrl({ feature: fresh.name, range: '24h' }));
    expect(text(first('[data-metric="cost_per_request"] .trend'))).toBe('no earlier period to compare');
  });

  it('when nothing changed, then the live check answers 204 with no body; after an event of the environment, 200, and the refreshed page asks from there', async () => {
    const f = await makeFeature(t.db);
    const $ = await c.page(featuresUrl({ feature: f.name }));
    const live = $('#feature-overview').attr('data-live')!;
    expect(live).toMatch(new RegExp(`/features/${f.name}/live\\?since=\\d+$`));
    const unchanged = await c.admin.agent.get(live).expect(204);
    expect(unchanged.text).toBe('');
    await insertUsage(t.db, [use(f, mini, 0, { environment: 'staging' })]);
    await c.admin.agent.get(live).expect(204);
    await c.admin.agent.get(`${live}&environment=staging`).expect(200);
    await insertUsage(t.db, [use(f, mini, 0)]);
    expect((await c.admin.agent.get(live).expect(200)).body).toEqual({ changed: true });
    // The refreshed overview carries the next `since`, which is unchanged again.
    const next = (await c.page(featuresUrl({ feature: f.name })))('#feature-overview').attr('data-live')!;
    expect(next).not.toBe(live);
    await c.admin.agent.get(next).expect(204);
    await c.admin.agent.get(live.replace(/since=\d+/, 'since=x')).expect(400);
  });
});
