import type { Environment } from '../domain.ts';
import { bucketOf, HIST_COLUMNS, SUM_COLUMNS } from './histogram.ts';
import type { Window } from './ranges.ts';

export type Scope = 'feature' | 'model' | 'provider';
export const SCOPE_COLUMN: Record<Scope, string> = { feature: 'feature_id', model: 'model_id', provider: 'provider_id' };

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
    // Only reads that group by member and keep those of :ids may set it (see segmentsSql).
    every: false,
    cursor,
    environment,
    m_from: iso(ceilTo(from, MINUTE)),
    // A window ending now reads its last minute from the minute rollup too (and the rows of it not rolled up yet), not raw.
    m_to: iso(w.endsNow ? ceilTo(to, MINUTE) : floorTo(to, MINUTE)),
    h_from: hours ? iso(ceilTo(from, HOUR)) : 'infinity',
    // Likewise its last hour, or day, from that rollup's row when the read takes rows of that grain: one row,
    // not the minutes (hours) of it so far. Every event of it is before now; those not rolled up yet come raw.
    h_to: hours ? iso(w.endsNow ? ceilTo(to, HOUR) : floorTo(to, HOUR)) : '-infinity',
    d_from: days ? iso(ceilTo(from, DAY)) : 'infinity',
    d_to: days ? iso(w.endsNow ? ceilTo(to, DAY) : floorTo(to, DAY)) : '-infinity',
  };
}

/** The condition limiting rows of `alias` to the binding :environment, or none when it is null. */
export const envFilter = (alias: string) => `(:environment::text IS NULL OR ${alias}.environment = :environment::text)`;

/** Raw rows' aggregate for each additive column but the histogram's, and the type its rollup column has. */
export const RAW_SUMS: Record<string, { sql: string; type: string }> = {
  requests: { sql: 'count(*)', type: 'int' },
  successes: { sql: "count(*) FILTER (WHERE l.status = 'success')", type: 'int' },
  errors: { sql: "count(*) FILTER (WHERE l.status = 'error')", type: 'int' },
  timeouts: { sql: "count(*) FILTER (WHERE l.status = 'timeout')", type: 'int' },
  latency_sum_ms: { sql: 'sum(l.response_time_ms)', type: 'bigint' },
  input_tokens: { sql: 'sum(l.input_tokens)', type: 'bigint' },
  output_tokens: { sql: 'sum(l.output_tokens)', type: 'bigint' },
  cost_usd: { sql: 'sum(l.cost_usd)', type: 'numeric' },
  input_cost_usd: { sql: 'sum(l.input_cost_usd)', type: 'numeric' },
};

/**
 * SQL (a CTE named seg) for the usage of a set of features, models or providers in the window
 * [:from, :to), as rows (t, feature_id, model_id, provider_id, environment, prompt_version (0: none), …columns) at the
 * coarsest grain that fits:
 *  - whole UTC days [:d_from, :d_to) from the day rollup (none when charts are finer than a day),
 *  - whole hours [:h_from, :h_to) outside those days from the hour rollup (none when charts are
 *    finer than an hour),
 *  - whole minutes [:m_from, :m_to) outside those hours from the minute rollup,
 *  - raw rows for the partial minutes at both edges,
 *  - raw rows not yet rolled up (id past the cursor) in the whole minutes: the newest and the late.
 * A window ending now has its last minute, and its last hour and day when the read takes those, whole (see windowBindings).
 * Only rows of :environment when it is not null. Every row of the window is counted exactly once. Bindings come from windowBindings(), with the
 * cursor read in the same snapshot (a constant, so the planner reads the newest rows by id).
 * With the binding :every (a read of many members that groups by member), the rollup branches read
 * every member's rows of the window by bucket and the raw branches still only those of :ids: rows of
 * other members may then come out, and the caller leaves them out.
 * `columns`: the additive columns carried (SUM_COLUMNS' order); a read that needs no histogram names
 * fewer, which PostgreSQL plans and reads in a fraction of the time.
 * `dayHours` (requests only): whole days come as their 24 UTC hours (the day rows' hour_requests, added
 * up per member and day, with only the member's column among the keys), so that a read by hour of day
 * takes whole days from day rows rather than every hour row.
 */
export function segmentsSql(scope: Scope, columns: readonly string[] = SUM_COLUMNS, { dayHours = false } = {}): string {
  if (dayHours && (columns.length !== 1 || columns[0] !== 'requests')) throw new Error('segmentsSql: dayHours carries requests only');
  const col = SCOPE_COLUMN[scope];
  const keys = 'feature_id, model_id, provider_id, environment, prompt_version';
  const k = (alias: string) =>
    keys
      .split(', ')
      .map((c) => `${alias}.${c}`)
      .join(', ');
  // Raw rows without a prompt version count under 0, as in the rollups.
  const rawKeys = k('l').replace('l.prompt_version', 'coalesce(l.prompt_version, 0) AS prompt_version');
  const rollupColumns = columns.map((c) => `r.${c}`).join(', ');
  // With :every, rollup rows are read by bucket whatever their member (one range scan, not a probe per id): the caller keeps those of :ids.
  const rollupIds = `(:every::boolean OR r.${col} = ANY(:ids::uuid[]))`;
  // Buckets in [:g_from, :g_to) but not in the coarser [:c_from, :c_to): the two stretches at its edges, as two
  // ranges (each an index range scan), not the whole window's buckets filtered. The coarser range may be empty
  // (from ≥ to, infinite bounds): then the first stretch is the whole of it.
  const outside = (g: string, c: string) =>
    `((r.bucket >= :${g}_from::timestamptz AND r.bucket < least(:${g}_to::timestamptz, :${c}_from::timestamptz))
      OR (r.bucket >= greatest(:${g}_from::timestamptz, :${c}_to::timestamptz, :${c}_from::timestamptz) AND r.bucket < :${g}_to::timestamptz))`;
  const hist = columns.filter((c) => HIST_COLUMNS.includes(c));
  // Raw rows are grouped to the minute (charts and local hours need no finer) and, with a histogram, by
  // latency bucket first, so the histogram is pivoted from groups rather than computed row by row.
  const inner = [...new Set([...(hist.length ? ['requests'] : []), ...columns.filter((c) => c in RAW_SUMS)])];
  const outer = columns.map((c) =>
    c in RAW_SUMS ? `sum(${c})::${RAW_SUMS[c].type}` : `coalesce(sum(requests) FILTER (WHERE hb = ${HIST_COLUMNS.indexOf(c) + 1}), 0)::int`,
  );
  const dayRows = `FROM usage_rollup_day r
    WHERE ${rollupIds} AND ${envFilter('r')} AND r.bucket >= :d_from::timestamptz AND r.bucket < :d_to::timestamptz`;
  // With dayHours, a day's rows (one per model, environment, prompt version…) are first added up per member, hour by
  // hour, so each day is unnested once: its 24 hours, not 24 per row. Those rows carry only the member's column.
  const dayHourRows = `SELECT d.bucket + (h.i - 1) * interval '1 hour' AS t, ${keys
    .split(', ')
    .map((c) => (c === col ? `d.${c}` : `NULL AS ${c}`))
    .join(', ')}, h.n AS requests
    FROM (SELECT r.bucket, r.${col}, ARRAY[${Array.from({ length: 24 }, (_, i) => `sum(r.hour_requests[${i + 1}])`).join(', ')}] AS hours
          ${dayRows} GROUP BY 1, 2) d
    CROSS JOIN LATERAL unnest(d.hours) WITH ORDINALITY AS h(n, i)`;
  return `
  seg AS (
    ${dayHours ? dayHourRows : `SELECT r.bucket AS t, ${k('r')}, ${rollupColumns} ${dayRows}`}
    UNION ALL
    SELECT r.bucket, ${k('r')}, ${rollupColumns}
    FROM usage_rollup_hour r
    WHERE ${rollupIds} AND ${envFilter('r')} AND ${outside('h', 'd')}
    UNION ALL
    SELECT r.bucket, ${k('r')}, ${rollupColumns}
    FROM usage_rollup_minute r
    WHERE ${rollupIds} AND ${envFilter('r')} AND ${outside('m', 'h')}
    UNION ALL
    SELECT t, ${keys}, ${outer.join(', ')}
    FROM (
      SELECT date_trunc('minute', l.created_at) AS t, ${rawKeys}${hist.length ? `, ${bucketOf('l.response_time_ms')} AS hb` : ''},
             ${inner.map((c) => `${RAW_SUMS[c].sql} AS ${c}`).join(', ')}
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
      GROUP BY ${hist.length ? '1, 2, 3, 4, 5, 6, 7' : '1, 2, 3, 4, 5, 6'}
    ) g
    GROUP BY 1, 2, 3, 4, 5, 6
  )`;
}
