import { HIST_COLUMNS, rawHistogram } from './histogram.ts';

export type Scope = 'feature' | 'model' | 'provider';
export const SCOPE_COLUMN: Record<Scope, string> = { feature: 'feature_id', model: 'model_id', provider: 'provider_id' };

export const SUM_COLUMNS = ['requests', 'successes', 'errors', 'timeouts', 'latency_sum_ms', ...HIST_COLUMNS, 'input_tokens', 'output_tokens', 'cost_usd', 'input_cost_usd'];

const RAW_COLUMNS = `1 AS requests, (l.status = 'success')::int AS successes, (l.status = 'error')::int AS errors,
  (l.status = 'timeout')::int AS timeouts, l.response_time_ms::bigint AS latency_sum_ms, ${rawHistogram('l.response_time_ms')},
  l.input_tokens::bigint AS input_tokens, l.output_tokens::bigint AS output_tokens, l.cost_usd, l.input_cost_usd`;

/** SQL: the id up to which rows are in the rollups (an init plan, so it can drive an index scan). */
export const CURSOR = `(SELECT coalesce(max(last_id), 0) FROM rollup_cursors WHERE name = 'usage')`;

const ROLLUP_COLUMNS = SUM_COLUMNS.map((c) => `r.${c}`).join(', ');

/**
 * SQL for the usage of a set of features, models or providers in the window [:from, :to), as rows
 * (t, feature_id, model_id, provider_id, environment, …sums) at the coarsest grain that fits:
 *  - whole hours from the hour rollup (unless `hours` is false: charts finer than an hour),
 *  - whole minutes from the minute rollup for the rest,
 *  - raw rows for the partial minutes at both edges,
 *  - raw rows not yet rolled up (id past the cursor) in the whole minutes: the newest and the late.
 * Every row of the window is counted exactly once. Needs bindings :from, :to, :ids (uuid[]).
 */
export function segmentsSql(scope: Scope, hours: boolean): string {
  const col = SCOPE_COLUMN[scope];
  const keys = 'feature_id, model_id, provider_id, environment';
  return `
  b AS (
    SELECT :from::timestamptz AS t_from, :to::timestamptz AS t_to,
           date_trunc('minute', :from::timestamptz - interval '1 microsecond') + interval '1 minute' AS m_from,
           date_trunc('minute', :to::timestamptz) AS m_to,
           ${hours ? `date_trunc('hour', :from::timestamptz - interval '1 microsecond') + interval '1 hour'` : `'infinity'::timestamptz`} AS h_from,
           ${hours ? `date_trunc('hour', :to::timestamptz)` : `'-infinity'::timestamptz`} AS h_to
  ),
  seg AS (
    SELECT r.bucket AS t, r.${keys.split(', ').join(', r.')}, ${ROLLUP_COLUMNS}
    FROM usage_rollup_hour r, b
    WHERE r.${col} = ANY(:ids::uuid[]) AND r.bucket >= b.h_from AND r.bucket < b.h_to
    UNION ALL
    SELECT r.bucket, r.${keys.split(', ').join(', r.')}, ${ROLLUP_COLUMNS}
    FROM usage_rollup_minute r, b
    WHERE r.${col} = ANY(:ids::uuid[]) AND r.bucket >= b.m_from AND r.bucket < b.m_to
      AND NOT (r.bucket >= b.h_from AND r.bucket < b.h_to)
    UNION ALL
    -- The partial minutes at both edges, whatever their id.
    SELECT l.created_at, l.${keys.split(', ').join(', l.')}, ${RAW_COLUMNS}
    FROM ai_usage_logs l, b
    WHERE l.${col} = ANY(:ids::uuid[])
      AND ((l.created_at >= b.t_from AND l.created_at < b.m_from) OR (l.created_at >= b.m_to AND l.created_at < b.t_to))
    UNION ALL
    -- Rows not rolled up yet inside the whole minutes: found by id, so only the newest are read.
    SELECT l.created_at, l.${keys.split(', ').join(', l.')}, ${RAW_COLUMNS}
    FROM ai_usage_logs l, b
    WHERE l.id > ${CURSOR} AND l.${col} = ANY(:ids::uuid[]) AND l.created_at >= b.m_from AND l.created_at < b.m_to
  )`;
}
