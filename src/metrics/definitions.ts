import { percentileFromHistogram } from './histogram.ts';
import type { Sums } from './queries.ts';

/** Up to this many events in a range, percentiles are exact (from raw rows) instead of from the histogram. */
export const EXACT_PERCENTILES_UP_TO = 20_000;

/** Whether a range with this many events gets exact percentiles. */
export const wantsExactPercentiles = (requests: number) => requests > 0 && requests <= EXACT_PERCENTILES_UP_TO;

/** The headline figures of SPEC §4 from usage sums (their percentiles from `hist`, the sums' own unless given); every rate is null without requests. */
export function headline(s: Sums, hist: number[] = s.hist) {
  const n = s.requests;
  const success_rate = n ? (s.successes / n) * 100 : null;
  return {
    total_requests: n,
    success_rate,
    error_rate: success_rate === null ? null : 100 - success_rate,
    response_time: n ? s.latency_sum_ms / n : null,
    p50: percentileFromHistogram(hist, 0.5),
    p95: percentileFromHistogram(hist, 0.95),
    p99: percentileFromHistogram(hist, 0.99),
    total_cost: s.cost_usd,
    cost_per_request: n ? s.cost_usd / n : null,
  };
}

export type Headline = ReturnType<typeof headline>;

/** Uptime: the share of the window's minute slots that were good; null without requests. */
export const uptimeOf = (requests: number, bad: number, slots: number) => (requests ? ((slots - bad) / slots) * 100 : null);

/** (this − previous) / previous × 100; null when the previous window cost nothing. */
export const trendOf = (current: number, previous: number) => (previous > 0 ? ((current - previous) / previous) * 100 : null);

/**
 * cost_trend (SPEC §4): the trend against the earlier range, null when it cost nothing or when the
 * feature's first event is later than its start — a partly covered period is no baseline.
 */
export const costTrendOf = (current: number, previous: number, recordedSinceEarlierStart: boolean) =>
  recordedSinceEarlierStart ? trendOf(current, previous) : null;

/** Amounts with percentages of their total; percentages are null when the total is zero. */
export function shares<T extends { amount: number }>(items: T[]): (T & { percentage: number | null })[] {
  const total = items.reduce((a, i) => a + i.amount, 0);
  return items.map((i) => ({ ...i, percentage: total > 0 ? (i.amount / total) * 100 : null }));
}
