import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { BOUNDS, HIST_COLUMNS, sumHistogram } from './histogram.ts';

/** One arm's figures over a window, from the minute rollups. */
export interface ArmFigures {
  requests: number;
  failures: number;
  cost_usd: number;
  /** The bounds of the histogram bucket holding the 95th percentile: the exact p95 lies between them (null without data). */
  p95_low: number | null;
  p95_high: number | null;
}

const EMPTY: ArmFigures = { requests: 0, failures: 0, cost_usd: 0, p95_low: null, p95_high: null };

/**
 * Stable vs candidate over [from, to): the arm follows from the rollup row's model (the candidate's
 * model is the candidate arm, the stable model the stable arm; other models count for neither).
 */
export async function armFigures(
  db: Db,
  rollout: Pick<Row<'rollouts'>, 'feature_id' | 'environment' | 'candidate_model_id' | 'stable_model_id'>,
  from: Date,
  to: Date,
): Promise<{ stable: ArmFigures; candidate: ArmFigures }> {
  const { rows } = await db.raw<{ rows: (Record<string, string | number> & { arm: 'stable' | 'candidate' })[] }>(
    `SELECT CASE WHEN model_id = ? THEN 'candidate' ELSE 'stable' END AS arm,
            sum(requests)::bigint AS requests, sum(errors + timeouts)::bigint AS failures, sum(cost_usd)::float8 AS cost_usd,
            ${sumHistogram()}
       FROM usage_rollup_minute
      WHERE feature_id = ? AND environment = ? AND bucket >= ? AND bucket < ? AND model_id IN (?, ?)
      GROUP BY 1`,
    [rollout.candidate_model_id, rollout.feature_id, rollout.environment, from, to, rollout.candidate_model_id, rollout.stable_model_id],
  );
  const out = { stable: EMPTY, candidate: EMPTY };
  for (const r of rows) {
    const [p95_low, p95_high] = p95Bounds(HIST_COLUMNS.map((c) => Number(r[c])));
    out[r.arm] = { requests: Number(r.requests), failures: Number(r.failures), cost_usd: Number(r.cost_usd), p95_low, p95_high };
  }
  return out;
}

/** The bounds of the bucket where the 95th percentile falls; the last bucket is open above. */
export function p95Bounds(counts: number[]): [number | null, number | null] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return [null, null];
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= 0.95 * total) return [BOUNDS[i], i + 1 < BOUNDS.length ? BOUNDS[i + 1] : Number.POSITIVE_INFINITY];
  }
  return [BOUNDS[BOUNDS.length - 1], Number.POSITIVE_INFINITY];
}
