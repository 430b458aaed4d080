/**
 * Brute-force metrics over raw ai_usage_logs rows, written from SPEC §4 without the code under test:
 * every figure is recomputed in plain JS from the rows themselves. The tests compare against these.
 */
import type { Db } from '../../src/db/knex.ts';
import { BOUNDS } from '../../src/metrics/histogram.ts';
import { SET_MAX } from '../../src/metrics/user-sketch.ts';
import { DAY, HOUR, MINUTE } from '../setup/usage-factory.ts';

export type Range = '1h' | '24h' | '7d' | '30d';
export const RANGES: Range[] = ['1h', '24h', '7d', '30d'];
export const RANGE_MS: Record<Range, number> = { '1h': HOUR, '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY };
export const BUCKET_MS: Record<Range, number> = { '1h': 5 * MINUTE, '24h': HOUR, '7d': 6 * HOUR, '30d': DAY };

export interface Raw {
  t: number;
  model_id: string;
  provider_id: string;
  environment: string;
  status: string;
  ms: number;
  /** cost and input cost in 1e-8 USD (exact integers) */
  cost: number;
  input_cost: number;
  user: string | null;
  /** The prompt version the event named, 0 for none. */
  version: number;
}

export async function rawRows(db: Db, column: 'feature_id' | 'model_id' | 'provider_id', id: string): Promise<Raw[]> {
  const { rows } = await db.raw(
    `SELECT created_at, model_id, provider_id, environment, status, response_time_ms,
            (cost_usd * 100000000)::bigint AS cost, (input_cost_usd * 100000000)::bigint AS input_cost, end_user_id, prompt_version
     FROM ai_usage_logs WHERE ${column} = ?`,
    [id],
  );
  return rows.map((r: Record<string, unknown>) => ({
    t: (r.created_at as Date).getTime(),
    model_id: r.model_id as string,
    provider_id: r.provider_id as string,
    environment: r.environment as string,
    status: r.status as string,
    ms: Number(r.response_time_ms),
    cost: Number(r.cost),
    input_cost: Number(r.input_cost),
    user: r.end_user_id as string | null,
    version: (r.prompt_version as number | null) ?? 0,
  }));
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** percentile_cont: linear interpolation between the order statistics around q × (n − 1). */
export function percentileCont(values: number[], q: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Rows with from ≤ t ≤ to (both inclusive, milliseconds). */
export const between = (rows: Raw[], from: number, to: number) => rows.filter((r) => r.t >= from && r.t <= to);

export function headlineOf(rows: Raw[]) {
  const n = rows.length;
  const success_rate = n ? (rows.filter((r) => r.status === 'success').length / n) * 100 : null;
  const total_cost = sum(rows.map((r) => r.cost)) / 1e8;
  return {
    total_requests: n,
    success_rate,
    error_rate: success_rate === null ? null : 100 - success_rate,
    response_time: n ? sum(rows.map((r) => r.ms)) / n : null,
    total_cost,
    cost_per_request: n ? total_cost / n : null,
  };
}

/**
 * Whether the lower bound of the 95% Wilson score interval (z = 1.96) of f failures in n requests is
 * at or above `threshold` (%), decided exactly in integers. With p = f/n the bound is
 *   (p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)
 * so, for t = threshold/100, bound ≥ t ⇔ L ≥ 0 and L² ≥ z²·n·(4f(n−f) + z²n), where
 * L = 2nf + z²n − 2n(n + z²)t (both sides times 2n(n + z²), then squared). Everything below is that
 * inequality times 10⁸ with z = 196/100 and t = T/10000 (T whole basis points).
 */
export function wilsonBad(n: number, f: number, threshold: number): boolean {
  if (n <= 0) return false;
  const [N, F, T] = [BigInt(n), BigInt(f), BigInt(Math.round(threshold * 100))];
  const L = 200_000_000n * N * F + 384_160_000n * N - 20_000n * T * N * N - 76_832n * T * N;
  const S = N * (40_000n * F * (N - F) + 38_416n * N);
  return L >= 0n && L * L >= 1_960_000n * 1_960_000n * S;
}

/** Uptime over [from, now]: minute slots touched, a slot bad when wilsonBad (SPEC §4); idle slots are good. */
export function uptimeOf(rows: Raw[], from: number, now: number, threshold: number): number | null {
  const w = between(rows, from, now);
  if (!w.length) return null;
  const slots = Math.floor(now / MINUTE) - Math.floor(from / MINUTE) + 1;
  const per = new Map<number, { r: number; f: number }>();
  for (const r of w) {
    const m = per.get(Math.floor(r.t / MINUTE)) ?? { r: 0, f: 0 };
    m.r += 1;
    if (r.status !== 'success') m.f += 1;
    per.set(Math.floor(r.t / MINUTE), m);
  }
  const bad = [...per.values()].filter((m) => wilsonBad(m.r, m.f, threshold)).length;
  return ((slots - bad) / slots) * 100;
}

const hourFormats = new Map<string, Intl.DateTimeFormat>();
export function localHour(t: number, timeZone: string): number {
  let f = hourFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' });
    hourFormats.set(timeZone, f);
  }
  return Number(f.formatToParts(new Date(t)).find((p) => p.type === 'hour')!.value);
}

export function peakHour(rows: Raw[], timeZone: string): number | null {
  const counts = new Array<number>(24).fill(0);
  for (const r of rows) counts[localHour(r.t, timeZone)] += 1;
  const max = Math.max(...counts);
  return max > 0 ? counts.indexOf(max) : null;
}

export function shares<T extends { amount: number }>(items: T[]) {
  const total = sum(items.map((i) => i.amount));
  return items.map((i) => ({ ...i, percentage: total > 0 ? (i.amount / total) * 100 : null }));
}

/** The feature dashboard's figures (featureMetrics' shape), recomputed from raw rows. */
export function bruteFeature(rows: Raw[], range: Range, now: number, timeZone: string, threshold: number, modelNames: Map<string, string>) {
  const R = RANGE_MS[range];
  const B = BUCKET_MS[range];
  const from = now - R;
  const w = between(rows, from, now);
  const h = headlineOf(w);
  const ms = w.map((r) => r.ms);
  const previous = between(rows, from - R, from - 1);
  const previousCost = sum(previous.map((r) => r.cost)) / 1e8;
  // SPEC §4: no trend when the feature's first event is later than the earlier range's start.
  const baseline = rows.some((r) => r.t <= from - R);
  const trend = (now: number | null, before: number) => (now !== null && baseline && before > 0 ? ((now - before) / before) * 100 : null);
  const users = new Set(w.filter((r) => r.user !== null).map((r) => r.user)).size;
  const models = [...new Set(w.map((r) => r.model_id))].sort();
  const data = [];
  for (let s = Math.floor(from / B) * B; s <= now; s += B) {
    const b = w.filter((r) => Math.floor(r.t / B) * B === s);
    const bh = headlineOf(b);
    data.push({
      timestamp: new Date(Math.max(s, from)).toISOString(),
      requests: b.length,
      throughput: b.length,
      response_time: bh.response_time,
      p95: percentileCont(
        b.map((r) => r.ms),
        0.95,
      ),
      error_rate: bh.error_rate,
      cost: bh.total_cost,
    });
  }
  return {
    realtime: {
      uptime: uptimeOf(rows, from, now, threshold),
      error_rate: h.error_rate,
      response_time: h.response_time,
      requests_per_minute: w.length / (R / MINUTE),
      success_rate: h.success_rate,
      cost_per_request: h.cost_per_request,
      p50: percentileCont(ms, 0.5),
      p95: percentileCont(ms, 0.95),
      p99: percentileCont(ms, 0.99),
    },
    historical: { timeRange: range, data },
    usage: {
      total_requests: w.length,
      ...expectedUsers(users, w.length),
      peak_usage_hour: peakHour(w, timeZone),
    },
    costs: {
      total_cost: h.total_cost,
      previous_cost: previousCost,
      cost_trend: trend(h.total_cost, previousCost),
      cost_per_request_trend: trend(h.cost_per_request, previous.length ? previousCost / previous.length : 0),
      cost_breakdown: shares(
        models.map((id) => {
          const m = w.filter((r) => r.model_id === id);
          return { category: modelNames.get(id)!, model_id: id, amount: sum(m.map((r) => r.cost)) / 1e8, requests: m.length };
        }),
      ),
      cost_by_direction: shares([
        { category: 'input', amount: sum(w.map((r) => r.input_cost)) / 1e8 },
        { category: 'output', amount: sum(w.map((r) => r.cost - r.input_cost)) / 1e8 },
      ]),
    },
  };
}

/** The split by prompt version (featureMetrics' by_prompt_version): each version's rows alone, none (0 → null) last. */
export function bruteVersions(rows: Raw[], range: Range, now: number, timeZone: string, names: Map<string, string>) {
  const w = between(rows, now - RANGE_MS[range], now);
  const versions = [...new Set(w.map((r) => r.version))].sort((a, b) => (a || Infinity) - (b || Infinity));
  return versions.map((v) => {
    const own = rows.filter((r) => r.version === v);
    const f = bruteFeature(own, range, now, timeZone, 5, names);
    return {
      prompt_version: v || null,
      total_requests: f.usage.total_requests,
      success_rate: f.realtime.success_rate,
      error_rate: f.realtime.error_rate,
      response_time: f.realtime.response_time,
      p95: f.realtime.p95,
      total_cost: f.costs.total_cost,
      cost_per_request: f.realtime.cost_per_request,
      data: f.historical.data,
    };
  });
}

/** Headline figures with uptime for a model, provider or feature (summaries' shape, without percentiles). */
export function bruteSummary(rows: Raw[], range: Range, now: number, threshold: number) {
  const from = now - RANGE_MS[range];
  return { ...headlineOf(between(rows, from, now)), uptime: uptimeOf(rows, from, now, threshold) };
}

const bucketOf = (ms: number) => {
  let i = 0;
  while (i + 1 < BOUNDS.length && ms >= BOUNDS[i + 1]) i++;
  return i;
};
const lowEdge = (i: number) => (i <= 0 ? 0 : BOUNDS[Math.min(i, BOUNDS.length - 1)]);
const highEdge = (i: number) => (i + 1 < BOUNDS.length ? BOUNDS[i + 1] : Infinity);

/** Whether a histogram estimate is within one histogram bucket of the exact value. */
export const withinOneBucket = (estimate: number, exact: number) =>
  estimate >= lowEdge(bucketOf(exact) - 1) && estimate <= highEdge(bucketOf(exact) + 1);

/**
 * Whether a histogram estimate of the q-quantile lies in the buckets spanned by the order statistics
 * around the exact rank (what any bucket-interpolating estimate can promise on sparse data).
 */
export function inBracket(estimate: number, values: number[], q: number): boolean {
  const s = [...values].sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  return estimate >= lowEdge(bucketOf(s[Math.floor(pos)])) && estimate <= highEdge(bucketOf(s[Math.ceil(pos)]));
}

/** Every difference between an actual value and the expected one (numbers to 1e-9 relative), by path. */
/** An expected figure the console may estimate (unique users from the sketches): within 2% of it passes. */
export class WithinTwoPercent {
  constructor(readonly value: number) {}
}

/** Unique users as the console shows them: exact up to SET_MAX users, estimated past them. */
export function expectedUsers(users: number, requests: number) {
  const approximate = users > SET_MAX;
  const figure = (n: number) => (approximate ? new WithinTwoPercent(n) : n);
  return {
    unique_users: figure(users),
    unique_users_approximate: approximate,
    avg_requests_per_user: users ? figure(requests / users) : null,
  };
}

/** The figure itself, estimated or not. */
export const exactOf = (figure: number | WithinTwoPercent) => (figure instanceof WithinTwoPercent ? figure.value : figure);

export function differences(actual: unknown, expected: unknown, path = '', out: string[] = []): string[] {
  if (expected instanceof WithinTwoPercent) {
    if (typeof actual !== 'number' || Math.abs(actual - expected.value) > 0.02 * expected.value)
      out.push(`${path}: expected ${expected.value} ± 2%, got ${String(actual)}`);
    return out;
  }
  if (expected === null || typeof expected !== 'object') {
    const same =
      typeof expected === 'number' && typeof actual === 'number'
        ? Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected))
        : actual === expected;
    if (!same) out.push(`${path}: expected ${String(expected)}, got ${String(actual)}`);
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      out.push(`${path}: expected ${expected.length} items, got ${Array.isArray(actual) ? actual.length : String(actual)}`);
      return out;
    }
    expected.forEach((e, i) => differences(actual[i], e, `${path}[${i}]`, out));
    return out;
  }
  for (const [k, e] of Object.entries(expected))
    differences((actual as Record<string, unknown> | null)?.[k], e, path ? `${path}.${k}` : k, out);
  return out;
}
