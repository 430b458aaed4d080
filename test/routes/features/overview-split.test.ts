import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { featureMetrics } from '../../../src/metrics/feature-metrics.ts';
import { RANGES } from '../../../src/metrics/ranges.ts';
import { savePromptVersion } from '../../../src/services/prompt-versions.ts';
import { makeFeature, suffix } from '../../setup/factories.ts';
import { tableRows, text } from '../../setup/html.ts';
import { HOUR, insertUsage } from '../../setup/usage-factory.ts';
import { ago, type Features, featureRow, featuresUrl, openFeatures, use } from './setup.ts';

// Issue 15: the overview split by prompt version (a table per version, one chart series per
// version), and prompt activations drawn as change markers, split or not; the CSV split too.

const fmt = createFormat('UTC');
const SYSTEM = { kind: 'system', label: 'test' } as const;

let c: Features;
beforeAll(async () => {
  c = await openFeatures();
});
afterAll(() => c?.close());

type ChartJson = {
  labels: string[];
  markers: { index: number; text: string; label: string }[];
  series: { name: string; data: (number | null)[] }[];
};
const chart = ($: CheerioAPI, id: string) => JSON.parse($(`#${id} .ct-chart`).attr('data-chart')!) as ChartJson;

/**
 * A feature whose production prompt moved from v1 to v2 two hours ago (staging still on v1), with
 * usage of v1 before, v2 after, one event without a version, and one in staging.
 */
async function versionedFeature() {
  const { t, mini } = c;
  const f = await makeFeature(t.db, { display_name: `Split ${suffix()}` });
  const v1 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer {{q}}', sample_values: { q: 'Why?' } })).version;
  const v2 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer briefly {{q}}', sample_values: { q: 'Why?' } })).version;
  const switched = ago(2 * HOUR);
  await t.db('prompt_activations').insert([
    {
      feature_id: f.id,
      prompt_version_id: v1.id,
      environment: 'production',
      is_active: false,
      activated_at: ago(30 * HOUR),
      activated_by: 'test',
      deactivated_at: switched,
    },
    {
      feature_id: f.id,
      prompt_version_id: v2.id,
      environment: 'production',
      activated_at: switched,
      activated_by: 'test',
      previous_version_id: v1.id,
    },
    { feature_id: f.id, prompt_version_id: v1.id, environment: 'staging', activated_at: ago(5 * HOUR), activated_by: 'test' },
  ]);
  await insertUsage(t.db, [
    use(f, mini, 180, { prompt_version: 1, response_time_ms: 200 }),
    use(f, mini, 170, { prompt_version: 1, response_time_ms: 400, status: 'error' }),
    use(f, mini, 60, { prompt_version: 2, response_time_ms: 900 }),
    use(f, mini, 30, { prompt_version: 2, response_time_ms: 1100 }),
    use(f, mini, 20, { response_time_ms: 300 }),
    use(f, mini, 10, { prompt_version: 1, environment: 'staging', response_time_ms: 100 }),
  ]);
  return { f: await featureRow(t, f.id), switched };
}

const bucketLabel = (at: Date) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hour12: false }).format(
    new Date(Math.floor(at.getTime() / RANGES['24h'].bucketMs) * RANGES['24h'].bucketMs),
  );

describe('GET /platform/ai-management/features, overview split by prompt version', () => {
  it('when split=prompt_version, then a row per version with its figures, a chart series per version, and the activation marked', async () => {
    const { f, switched } = await versionedFeature();
    const $ = await c.page(featuresUrl({ feature: f.name, split: 'prompt_version' }));
    const m = await featureMetrics(c.t.db, f, '24h', new Date(), 'UTC', 'production', 'prompt_version');
    const versions = m.by_prompt_version!;
    expect(versions.map((v) => [v.prompt_version, v.total_requests])).toEqual([
      [1, 2],
      [2, 2],
      [null, 1],
    ]);
    expect(text($('nav.splits a[aria-current="page"]'))).toBe('Prompt version');
    expect($('nav.splits a').first().attr('href')).toBe(featuresUrl({ feature: f.name, tab: 'overview', range: '24h' }));
    // The range and environment links keep the split.
    expect($('#feature-overview nav.ranges a').first().attr('href')).toContain('split=prompt_version');
    expect($('#feature-overview nav.environments a').first().attr('href')).toContain('split=prompt_version');

    expect(
      $('#by-prompt-version tbody tr')
        .toArray()
        .map((tr) => $(tr).attr('data-version')),
    ).toEqual(['1', '2', 'none']);
    expect(tableRows($, '#by-prompt-version tbody')).toEqual(
      versions.map((v) => [
        v.prompt_version === null ? 'no version' : `v${v.prompt_version}`,
        fmt.integer(v.total_requests),
        fmt.ms(v.response_time),
        fmt.ms(v.p95),
        fmt.percent(v.error_rate),
        fmt.usd(v.total_cost),
        fmt.usd(v.cost_per_request, 4),
      ]),
    );

    const marker = { text: '→ prompt v2', label: 'production: prompt v1 → v2 activated' };
    for (const id of ['chart-latency', 'chart-throughput', 'chart-errors']) {
      const json = chart($, id);
      expect(
        json.series.map((s) => s.name),
        id,
      ).toEqual(['v1', 'v2', 'no version']);
      expect(
        json.markers.map((k) => ({ text: k.text, label: k.label })),
        id,
      ).toEqual([marker]);
      expect(json.labels[json.markers[0].index]).toBe(bucketLabel(switched));
    }
    const requests = chart($, 'chart-throughput').series;
    versions.forEach((v, i) => expect(requests[i].data).toEqual(v.data.map((p) => p.requests)));
    expect(chart($, 'chart-latency').series[1].data).toEqual(
      versions[1].data.map((p) => (p.response_time === null ? null : Math.round(p.response_time))),
    );
    // Per bucket, the versions add up to the whole.
    const whole = await featureMetrics(c.t.db, f, '24h', new Date(), 'UTC', 'production');
    whole.historical.data.forEach((p, i) => expect(requests.reduce((n, s) => n + (s.data[i] ?? 0), 0)).toBe(p.requests));

    expect(text($('.prompt-changes h4'))).toBe('Prompt activations in production in this range');
    expect(
      $('.prompt-changes li')
        .toArray()
        .map((li) => text($(li))),
    ).toEqual([`${fmt.dateTime(switched)} · production: prompt v1 → v2`]);
  });

  it('when not split, then the charts are as before and still mark the prompt activation; staging shows its own', async () => {
    const { f } = await versionedFeature();
    const $ = await c.page(featuresUrl({ feature: f.name }));
    expect(text($('nav.splits a[aria-current="page"]'))).toBe('Whole');
    expect($('#by-prompt-version')).toHaveLength(0);
    expect(chart($, 'chart-latency').series.map((s) => s.name)).toEqual(['Mean', 'p95']);
    expect(chart($, 'chart-latency').markers.map((k) => k.text)).toEqual(['→ prompt v2']);

    const staging = await c.page(featuresUrl({ feature: f.name, environment: 'staging', split: 'prompt_version' }));
    expect(tableRows(staging, '#by-prompt-version tbody').map((r) => r.slice(0, 2))).toEqual([['v1', '1']]);
    expect(chart(staging, 'chart-latency').markers.map((k) => k.label)).toEqual(['staging: prompt v1 activated']);
  });

  it('when format=csv and split, then one row per version and bucket, the version first, adding up to the whole', async () => {
    const { f } = await versionedFeature();
    const res = await c.admin.agent.get(featuresUrl({ feature: f.name, split: 'prompt_version', format: 'csv' })).expect(200);
    expect(res.headers['content-disposition']).toMatch(new RegExp(`filename="?${f.name}-production-24h-by-prompt_version\\.csv"?$`));
    const [header, ...lines] = res.text.trim().split(/\r?\n/);
    expect(header).toBe('prompt_version,bucket_start_utc,requests,response_time_ms,p95_ms,error_rate_pct,cost_usd');
    const rows = lines.map((l) => l.split(','));
    const perVersion = (v: string) => rows.filter((r) => r[0] === v).reduce((n, r) => n + Number(r[2]), 0);
    expect([perVersion('1'), perVersion('2'), perVersion('')]).toEqual([2, 2, 1]);
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(['1', '2', '']));
  });

  it('when split names something else, then 400', async () => {
    const f = await makeFeature(c.t.db);
    const res = await c.admin.agent.get(featuresUrl({ feature: f.name, split: 'model_version' }));
    expect(res.status).toBe(400);
    expect(res.text).toContain('split must be one of prompt_version');
  });
});
