/**
 * The fixed latency histogram of the rollups: bucket i holds latencies in [BOUNDS[i], BOUNDS[i+1])
 * milliseconds, the last one everything from its bound up. Percentiles read from it are within one
 * bucket of the exact value. Changing the bounds needs a migration and a rollup rebuild.
 */
export const BOUNDS = [
  0, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000, 2500, 3000, 3500, 4000, 5000,
  6000, 7000, 8000, 10000, 12000, 15000, 20000, 25000, 30000, 40000, 60000, 120000, 300000,
] as const;

export const BUCKETS = BOUNDS.length;
export const HIST_COLUMNS = BOUNDS.map((_b, i) => `lat_${String(i).padStart(2, '0')}`);

/** SQL: the 1-based bucket of a latency column, as width_bucket counts. */
export const bucketOf = (column: string) => `width_bucket(${column}, ARRAY[${BOUNDS.join(',')}])`;

/** SQL select-list: the histogram columns summed. */
/** Every additive column of a rollup row (counts, latency sum and histogram, tokens, costs), in table order. */
export const SUM_COLUMNS = [
  'requests',
  'successes',
  'errors',
  'timeouts',
  'latency_sum_ms',
  ...HIST_COLUMNS,
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'input_cost_usd',
];

export const sumHistogram = (alias = '') => HIST_COLUMNS.map((c) => `sum(${alias}${c})::bigint AS ${c}`).join(', ');

/** The q-quantile (0 < q ≤ 1) from bucket counts, interpolated inside its bucket; null with no data. */
export function percentileFromHistogram(counts: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] === 0) continue;
    if (seen + counts[i] >= rank) {
      const lo = BOUNDS[i];
      const hi = i + 1 < BOUNDS.length ? BOUNDS[i + 1] : lo * 2;
      return lo + ((rank - seen) / counts[i]) * (hi - lo);
    }
    seen += counts[i];
  }
  return BOUNDS[BOUNDS.length - 1];
}
