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

type ArmsOf = Pick<
  Row<'rollouts'>,
  'feature_id' | 'environment' | 'candidate_model_id' | 'stable_model_id' | 'candidate_prompt_version_id' | 'stable_prompt_version_id'
>;

/**
 * Stable vs candidate over [from, to), the arm following from the rollup row's model and prompt
 * version: a candidate model is told by its model; a candidate prompt by its version (and the model
 * candidates use); the stable arm is the stable model (with the stable version, 0 for none, when the
 * candidate is a prompt). Rows matching neither count for neither.
 */
export async function armFigures(db: Db, rollout: ArmsOf, from: Date, to: Date): Promise<{ stable: ArmFigures; candidate: ArmFigures }> {
  const version = (id: string | null) => db.raw('coalesce((SELECT version FROM prompt_versions WHERE id = ?), 0)', [id]);
  const byPrompt = rollout.candidate_prompt_version_id !== null;
  const candidate = byPrompt
    ? db.raw('model_id = ? AND prompt_version = ?', [
        rollout.candidate_model_id ?? rollout.stable_model_id,
        version(rollout.candidate_prompt_version_id),
      ])
    : db.raw('model_id = ?', [rollout.candidate_model_id]);
  const stable = byPrompt
    ? db.raw('model_id = ? AND prompt_version = ?', [rollout.stable_model_id, version(rollout.stable_prompt_version_id)])
    : db.raw('model_id = ?', [rollout.stable_model_id]);
  const { rows } = await db.raw<{ rows: (Record<string, string | number> & { arm: 'stable' | 'candidate' })[] }>(
    `SELECT arm, sum(requests)::bigint AS requests, sum(errors + timeouts)::bigint AS failures, sum(cost_usd)::float8 AS cost_usd,
            ${sumHistogram()}
       FROM (SELECT *, CASE WHEN ? THEN 'candidate' WHEN ? THEN 'stable' END AS arm
               FROM usage_rollup_minute
              WHERE feature_id = ? AND environment = ? AND bucket >= ? AND bucket < ?) r
      WHERE arm IS NOT NULL
      GROUP BY arm`,
    [candidate, stable, rollout.feature_id, rollout.environment, from, to],
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
