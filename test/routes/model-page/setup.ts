import type { CheerioAPI } from 'cheerio';
import { createFormat } from '../../../src/format.ts';
import { BUCKET_MS, between, headlineOf, percentileCont, RANGE_MS, type Range, type Raw } from '../../metrics/brute-force.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { ModelRecord } from '../../setup/rows.ts';
import { signInAs } from '../../setup/session.ts';
import { insertUsage, MINUTE, type ModelRef, modelRef, type UsageEvent } from '../../setup/usage-factory.ts';

// A model's page (/platform/ai-management/models/:id) and the compare page, as their test files share
// them: four models of a provider of the file's own with usage, checked against brute-force figures
// over their raw rows (SPEC §4). The database is shared with other files.

export const PATH = '/platform/ai-management/models';
export const COMPARE = `${PATH}/compare`;
export const fmt = createFormat('UTC');
export const ago = (minutes: number) => new Date(Date.now() - minutes * MINUTE);
export const modelUrl = (m: { id: string }, params: Record<string, string> = {}) =>
  `${PATH}/${m.id}${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ''}`;
export const compareUrl = (ids: string[], params: Record<string, string> = {}) =>
  `${COMPARE}?ids=${ids.map(encodeURIComponent).join(',')}${Object.keys(params).length ? `&${new URLSearchParams(params)}` : ''}`;

export type PageModel = ModelRecord & ModelRef;

/** A provider of the test's own with four models: available, beta, deprecated, offline, at rising prices. */
export async function makeModels(t: TestContext): Promise<PageModel[]> {
  const provider = await makeProvider(t.db, {
    name: `mp-${suffix()}`,
    display_name: `Model pages ${suffix()}`,
    kind: 'simulator',
    base_url: null,
    status: 'active',
  });
  const statuses = ['available', 'beta', 'deprecated', 'offline'] as const;
  const models: PageModel[] = [];
  for (const [i, letter] of ['A', 'B', 'C', 'D'].entries()) {
    const m = await makeModel(t.db, {
      provider_id: provider.id,
      name: `model-${letter.toLowerCase()}-${suffix()}`,
      display_name: `Model ${letter} ${suffix()}`,
      status: statuses[i],
      input_price_per_1k: 0.0015 * (i + 1),
      output_price_per_1k: 0.002 * (i + 1),
      context_window: 8192 * (i + 1),
    });
    models.push({ ...m, ...modelRef(m, provider) });
  }
  return models;
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

/** The app, an admin and a viewer, and the four models of {@link makeModels} with their usage: A busy, B light, C only 3 days ago, D never used. */
export async function openModelPages() {
  const t = startTestApp();
  const [admin, viewer] = [await signInAs(t, 'admin'), await signInAs(t, 'viewer')];
  const [A, B, C, D] = await makeModels(t);
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
  return { t, admin: admin.agent, viewer: viewer.agent, A, B, C, D };
}

/** SPEC §4 figures recomputed from a model's raw rows over [now − range, now]. */
export function expected(rows: Raw[], range: Range, now: number) {
  const w = between(rows, now - RANGE_MS[range], now);
  const ms = w.map((r) => r.ms);
  return { ...headlineOf(w), p50: percentileCont(ms, 0.5), p95: percentileCont(ms, 0.95), p99: percentileCont(ms, 0.99) };
}
export type Expected = ReturnType<typeof expected>;

/** A CSV bucket row recomputed from raw rows, from its (clipped) start alone. */
export function expectedBucket(rows: Raw[], range: Range, now: number, start: string) {
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

export const csvRows = (body: string) =>
  body
    .replace(/\r\n$/, '')
    .split('\r\n')
    .map((l) => l.split(','));
/** A CSV row of the model page with its numbers read back (empty cells are null). */
export const csvValues = (line: string[]) => [line[0], ...line.slice(1).map((v) => (v === '' ? null : Number(v)))];

/** The headline figures as the model page must show them. */
export const pageFigures = (e: Expected) => [
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
export const shownFigures = ($: CheerioAPI) =>
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
export const charts = ($: CheerioAPI) =>
  Object.fromEntries(
    $('figure.chart')
      .toArray()
      .map((fig) => [
        $(fig).attr('id')!,
        { json: JSON.parse($(fig).find('.ct-chart').attr('data-chart')!) as ChartJson, rows: $(fig).find('tbody tr').length },
      ]),
  );
