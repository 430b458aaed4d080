import type { Environment } from '../domain.ts';
import { bucketOf, HIST_COLUMNS, SUM_COLUMNS } from './histogram.ts';
import type { Window } from './ranges.ts';

export type Scope = 'feature' | 'model' | 'provider';
export const SCOPE_COLUMN: Record<Scope, string> = { feature: 'feature_id', model: 'model_id', provider: 'provider_id' };

const ROLLUP_COLUMNS = SUM_COLUMNS.map((c) => `r.${c}`).join(', ');

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ceilTo = (t: number, unit: number) => Math.ceil(t / unit) * unit;
const floorTo = (t: number, unit: number) => Math.floor(t / unit) * unit;

/** What a read is limited to besides its window: the rollup cursor of its snapshot and one environment (null: all). */
export interface ReadScope {
  cursor: number;
  environment: Environment | null;
}

/**
 * Bindings for segmentsSql: the window and its whole minutes [m_from, m_to) and whole hours
 * [h_from, h_to), as constants so that every branch is a plain index range scan; the environment
 * (null for all of them) is a parameter the planner folds away.
 */
export function windowBindings(w: Window, ids: string[], { cursor, environment }: ReadScope, hours = true, days = hours) {
  const from = w.from.getTime();
  const to = w.to.getTime();
  const iso = (t: number) => new Date(t).toISOString();
  return {
    from: iso(from),
    to: iso(to),
    ids: `{${ids.join(',')}}`,
    cursor,
    environment,
    m_from: iso(ceilTo(from, MINUTE)),
    // A window ending now reads its last minute from the minute rollup too (and the rows of it not rolled up yet), not raw.
    m_to: iso(w.endsNow ? ceilTo(to, MINUTE) : floorTo(to, MINUTE)),
    h_from: hours ? iso(ceilTo(from, HOUR)) : 'infinity',
    h_to: hours ? iso(floorTo(to, HOUR)) : '-infinity',
    d_from: days ? iso(ceilTo(from, DAY)) : 'infinity',
    d_to: days ? iso(floorTo(to, DAY)) : '-infinity',
  };
}

/** The condition limiting rows of `alias` to the binding :environment, or none when it is null. */
export const envFilter = (alias: string) => `(:environment::text IS NULL OR ${alias}.environment = :environment::text)`;

/**
 * SQL (a CTE named seg) for the usage of a set of features, models or providers in the window
 * [:from, :to), as rows (t, feature_id, model_id, provider_id, environment, prompt_version (0: none), …sums) at the
 * coarsest grain that fits:
 *  - whole UTC days [:d_from, :d_to) from the day rollup (none when charts are finer than a day),
 *  - whole hours [:h_from, :h_to) outside those days from the hour rollup (none when charts are
 *    finer than an hour),
 *  - whole minutes [:m_from, :m_to) outside those hours from the minute rollup,
 *  - raw rows for the partial minutes at both edges,
 *  - raw rows not yet rolled up (id past the cursor) in the whole minutes: the newest and the late.
 * Only rows of :environment when it is not null. Every row of the window is counted exactly once. Bindings come from windowBindings(), with the
 * cursor read in the same snapshot (a constant, so the planner reads the newest rows by id).
 */
export function segmentsSql(scope: Scope): string {
  const col = SCOPE_COLUMN[scope];
  const keys = 'feature_id, model_id, provider_id, environment, prompt_version';
  const k = (alias: string) =>
    keys
      .split(', ')
      .map((c) => `${alias}.${c}`)
      .join(', ');
  // Raw rows without a prompt version count under 0, as in the rollups.
  const rawKeys = k('l').replace('l.prompt_version', 'coalesce(l.prompt_version, 0) AS prompt_version');
  return `
  seg AS (
    SELECT r.bucket AS t, ${k('r')}, ${ROLLUP_COLUMNS}
    FROM usage_rollup_day r
    WHERE r.${col} = ANY(:ids::uuid[]) AND ${envFilter('r')} AND r.bucket >= :d_from::timestamptz AND r.bucket < :d_to::timestamptz
    UNION ALL
    SELECT r.bucket, ${k('r')}, ${ROLLUP_COLUMNS}
    FROM usage_rollup_hour r
    WHERE r.${col} = ANY(:ids::uuid[]) AND ${envFilter('r')} AND r.bucket >= :h_from::timestamptz AND r.bucket < :h_to::timestamptz
      AND NOT (r.bucket >= :d_from::timestamptz AND r.bucket < :d_to::timestamptz)
    UNION ALL
    SELECT r.bucket, ${k('r')}, ${ROLLUP_COLUMNS}
    FROM usage_rollup_minute r
    WHERE r.${col} = ANY(:ids::uuid[]) AND ${envFilter('r')} AND r.bucket >= :m_from::timestamptz AND r.bucket < :m_to::timestamptz
      AND NOT (r.bucket >= :h_from::timestamptz AND r.bucket < :h_to::timestamptz)
    UNION ALL
    -- Raw rows, grouped to the minute (charts and local hours need no finer) and by latency bucket
    -- first, so the histogram is pivoted from groups rather than computed row by row.
    SELECT t, ${keys}, sum(requests)::int, sum(successes)::int, sum(errors)::int, sum(timeouts)::int, sum(latency_sum_ms)::bigint,
           ${HIST_COLUMNS.map((_c, i) => `coalesce(sum(requests) FILTER (WHERE hb = ${i + 1}), 0)::int`).join(', ')},
           sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cost_usd), sum(input_cost_usd)
    FROM (
      SELECT date_trunc('minute', l.created_at) AS t, ${rawKeys}, ${bucketOf('l.response_time_ms')} AS hb,
             count(*) AS requests, count(*) FILTER (WHERE l.status = 'success') AS successes,
             count(*) FILTER (WHERE l.status = 'error') AS errors, count(*) FILTER (WHERE l.status = 'timeout') AS timeouts,
             sum(l.response_time_ms) AS latency_sum_ms, sum(l.input_tokens) AS input_tokens, sum(l.output_tokens) AS output_tokens,
             sum(l.cost_usd) AS cost_usd, sum(l.input_cost_usd) AS input_cost_usd
      FROM (
        -- The partial minutes at both edges, whatever their id.
        SELECT * FROM ai_usage_logs WHERE ${col} = ANY(:ids::uuid[]) AND ${envFilter('ai_usage_logs')} AND created_at >= :from::timestamptz AND created_at < :m_from::timestamptz
        UNION ALL
        SELECT * FROM ai_usage_logs WHERE ${col} = ANY(:ids::uuid[]) AND ${envFilter('ai_usage_logs')}
          AND created_at >= greatest(:m_to::timestamptz, :m_from::timestamptz) AND created_at < :to::timestamptz
        UNION ALL
        -- Rows not rolled up yet inside the whole minutes: found by id, so only the newest are read.
        SELECT * FROM ai_usage_logs WHERE id > :cursor::bigint AND ${col} = ANY(:ids::uuid[]) AND ${envFilter('ai_usage_logs')}
          AND created_at >= :m_from::timestamptz AND created_at < :m_to::timestamptz
      ) l
      GROUP BY 1, 2, 3, 4, 5, 6, 7
    ) g
    GROUP BY 1, 2, 3, 4, 5, 6
  )`;
}
