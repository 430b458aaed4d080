import type { Db } from '../db/knex.ts';
import { HIST_COLUMNS, sumHistogram } from './histogram.ts';
import type { Window } from './ranges.ts';
import { CURSOR, SCOPE_COLUMN, type Scope, segmentsSql } from './segments.ts';

/** A uuid[] literal (ids come from the database or are validated as uuids). */
export const uuidArray = (ids: string[]) => `{${ids.join(',')}}`;
const bind = (w: Window, ids: string[]) => ({ from: w.from.toISOString(), to: w.to.toISOString(), ids: uuidArray(ids) });

export interface Sums {
  requests: number;
  successes: number;
  errors: number;
  timeouts: number;
  latency_sum_ms: number;
  cost_usd: number;
  input_cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  hist: number[];
}

type Row = Record<string, number | string | null>;
const SUMS = `sum(requests)::bigint AS requests, sum(successes)::bigint AS successes, sum(errors)::bigint AS errors,
  sum(timeouts)::bigint AS timeouts, sum(latency_sum_ms)::bigint AS latency_sum_ms, coalesce(sum(cost_usd), 0) AS cost_usd,
  coalesce(sum(input_cost_usd), 0) AS input_cost_usd, sum(input_tokens)::bigint AS input_tokens,
  sum(output_tokens)::bigint AS output_tokens, ${sumHistogram()}`;

export function toSums(row: Row | undefined): Sums {
  const n = (k: string) => Number(row?.[k] ?? 0);
  return {
    requests: n('requests'), successes: n('successes'), errors: n('errors'), timeouts: n('timeouts'),
    latency_sum_ms: n('latency_sum_ms'), cost_usd: n('cost_usd'), input_cost_usd: n('input_cost_usd'),
    input_tokens: n('input_tokens'), output_tokens: n('output_tokens'), hist: HIST_COLUMNS.map(n),
  };
}

/** Usage sums per member of the scope (feature, model or provider) over a window. */
export async function sumsByScope(db: Db, scope: Scope, ids: string[], w: Window): Promise<Map<string, Sums>> {
  if (!ids.length) return new Map();
  const col = SCOPE_COLUMN[scope];
  const { rows } = await db.raw(`WITH ${segmentsSql(scope, true)} SELECT ${col} AS id, ${SUMS} FROM seg GROUP BY 1`, bind(w, ids));
  return new Map((rows as Row[]).map((r) => [String(r.id), toSums(r)]));
}

/** Sums per model within the scope, for cost breakdowns and comparisons. */
export async function sumsByModel(db: Db, scope: Scope, ids: string[], w: Window): Promise<Map<string, Sums>> {
  if (!ids.length) return new Map();
  const { rows } = await db.raw(`WITH ${segmentsSql(scope, true)} SELECT model_id AS id, ${SUMS} FROM seg GROUP BY 1`, bind(w, ids));
  return new Map((rows as Row[]).map((r) => [String(r.id), toSums(r)]));
}

/** Sums per chart bucket (epoch-aligned, UTC), hours from the hour rollup only when buckets are whole hours. */
export async function sumsByBucket(db: Db, scope: Scope, ids: string[], w: Window, bucket: string, bucketMs: number): Promise<Map<number, Sums>> {
  const hours = bucketMs % 3_600_000 === 0;
  const { rows } = await db.raw(
    `WITH ${segmentsSql(scope, hours)}
     SELECT extract(epoch FROM date_bin(:bucket::interval, t, 'epoch'::timestamptz)) * 1000 AS bucket, ${SUMS}
     FROM seg GROUP BY 1`,
    { ...bind(w, ids), bucket },
  );
  return new Map((rows as Row[]).map((r) => [Number(r.bucket), toSums(r)]));
}

/** Requests per hour of the day in a time zone; whole-hour rollups only when the zone's offset is whole hours. */
export async function requestsByLocalHour(db: Db, scope: Scope, ids: string[], w: Window, timeZone: string, wholeHourZone: boolean): Promise<Map<number, number>> {
  const { rows } = await db.raw(
    `WITH ${segmentsSql(scope, wholeHourZone)}
     SELECT extract(hour FROM t AT TIME ZONE :tz)::int AS hour, sum(requests)::bigint AS requests FROM seg GROUP BY 1`,
    { ...bind(w, ids), tz: timeZone },
  );
  return new Map((rows as Row[]).map((r) => [Number(r.hour), Number(r.requests)]));
}

/** Exact percentiles (linear interpolation) from raw rows: overall and per chart bucket. */
export async function exactPercentiles(db: Db, scope: Scope, ids: string[], w: Window, bucket: string) {
  const col = SCOPE_COLUMN[scope];
  const { rows } = await db.raw(
    `SELECT extract(epoch FROM date_bin(:bucket::interval, created_at, 'epoch'::timestamptz)) * 1000 AS bucket,
            percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS p
     FROM ai_usage_logs WHERE ${col} = ANY(:ids::uuid[]) AND created_at >= :from AND created_at < :to
     GROUP BY GROUPING SETS ((1), ())`,
    { ...bind(w, ids), bucket },
  );
  const overall = (rows as { bucket: number | null; p: number[] }[]).find((r) => r.bucket === null);
  const byBucket = new Map((rows as { bucket: number | null; p: number[] }[]).filter((r) => r.bucket !== null).map((r) => [Number(r.bucket), r.p]));
  return { overall: overall?.p ?? null, byBucket };
}

/** Bad minutes per member over a window, each with its own error-rate threshold (%). */
export async function badMinutes(db: Db, scope: Scope, thresholds: { id: string; threshold: number }[], w: Window): Promise<Map<string, number>> {
  if (!thresholds.length) return new Map();
  const col = SCOPE_COLUMN[scope];
  const { rows } = await db.raw(
    `WITH b AS (SELECT :from::timestamptz AS t_from, :to::timestamptz AS t_to,
                  date_trunc('minute', :from::timestamptz - interval '1 microsecond') + interval '1 minute' AS m_from,
                  date_trunc('minute', :to::timestamptz) AS m_to),
     th AS (SELECT * FROM jsonb_to_recordset(:thresholds::jsonb) AS x(id uuid, threshold numeric)),
     -- Minutes the hourly arrays cannot answer alone: partial edge minutes, and rows not rolled up yet.
     raw AS (
       SELECT l.${col} AS scope_id, l.created_at, l.status FROM ai_usage_logs l, b
       WHERE l.${col} = ANY(:ids::uuid[])
         AND ((l.created_at >= b.t_from AND l.created_at < b.m_from) OR (l.created_at >= b.m_to AND l.created_at < b.t_to))
       UNION ALL
       SELECT l.${col}, l.created_at, l.status FROM ai_usage_logs l, b
       WHERE l.id > ${CURSOR} AND l.${col} = ANY(:ids::uuid[]) AND l.created_at >= b.m_from AND l.created_at < b.m_to
     ),
     tail AS (
       SELECT scope_id, date_trunc('minute', created_at) AS m, count(*) AS r, count(*) FILTER (WHERE status <> 'success') AS f
       FROM raw GROUP BY 1, 2
     ),
     hrs AS (
       SELECT c.scope_id, c.hour, c.requests, c.failures,
              c.hour >= b.m_from AND c.hour + interval '1 hour' <= b.m_to
              AND NOT EXISTS (SELECT 1 FROM tail t WHERE t.scope_id = c.scope_id AND t.m >= c.hour AND t.m < c.hour + interval '1 hour') AS whole
       FROM usage_minute_counts c, b
       WHERE c.scope = :scope AND c.scope_id = ANY(:ids::uuid[]) AND c.hour > b.m_from - interval '1 hour' AND c.hour < b.m_to
     ),
     whole AS (
       SELECT h.scope_id, sum(bad_minutes(h.requests, h.failures, th.threshold)) AS bad
       FROM hrs h JOIN th ON th.id = h.scope_id WHERE h.whole GROUP BY 1
     ),
     mixed AS (
       SELECT scope_id, m, sum(r) AS r, sum(f) AS f FROM (
         SELECT h.scope_id, h.hour + (u.i - 1) * interval '1 minute' AS m, u.r, u.f
         FROM hrs h, b, unnest(h.requests, h.failures) WITH ORDINALITY AS u(r, f, i)
         WHERE NOT h.whole AND h.hour + (u.i - 1) * interval '1 minute' >= b.m_from AND h.hour + (u.i - 1) * interval '1 minute' < b.m_to
         UNION ALL
         SELECT scope_id, m, r, f FROM tail
       ) x GROUP BY 1, 2
     ),
     mixed_bad AS (
       SELECT x.scope_id, count(*) AS bad FROM mixed x JOIN th ON th.id = x.scope_id
       WHERE x.r > 0 AND x.f * 100 >= th.threshold * x.r GROUP BY 1
     )
     SELECT th.id, coalesce(w.bad, 0) + coalesce(mb.bad, 0) AS bad
     FROM th LEFT JOIN whole w ON w.scope_id = th.id LEFT JOIN mixed_bad mb ON mb.scope_id = th.id`,
    { ...bind(w, thresholds.map((t) => t.id)), scope, thresholds: JSON.stringify(thresholds) },
  );
  return new Map((rows as { id: string; bad: number }[]).map((r) => [r.id, Number(r.bad)]));
}

/**
 * Distinct end users of each feature in a window that ends now, exactly: users last seen in an hour
 * after the window's first, plus the users of the raw rows in that partial first hour and of the
 * rows not rolled up yet who are not among them.
 */
export async function uniqueUsers(db: Db, featureIds: string[], from: Date): Promise<Map<string, number>> {
  if (!featureIds.length) return new Map();
  const { rows } = await db.raw(
    `WITH b AS (SELECT :from::timestamptz AS t_from, date_trunc('hour', :from::timestamptz - interval '1 microsecond') + interval '1 hour' AS h_from)
     SELECT f.id,
            (SELECT count(*) FROM usage_feature_users u, b WHERE u.feature_id = f.id AND u.last_seen_hour >= b.h_from)
          + (SELECT count(*) FROM (
               SELECT l.end_user_id FROM ai_usage_logs l, b
               WHERE l.feature_id = f.id AND l.end_user_id IS NOT NULL AND l.created_at >= b.t_from AND l.created_at < b.h_from
               UNION
               SELECT l.end_user_id FROM ai_usage_logs l, b
               WHERE l.id > ${CURSOR} AND l.feature_id = f.id AND l.end_user_id IS NOT NULL AND l.created_at >= b.h_from
             ) x
             WHERE NOT EXISTS (SELECT 1 FROM usage_feature_users u, b
                               WHERE u.feature_id = f.id AND u.end_user_id = x.end_user_id AND u.last_seen_hour >= b.h_from)) AS users
     FROM unnest(:ids::uuid[]) AS f(id)`,
    { from: from.toISOString(), ids: uuidArray(featureIds) },
  );
  return new Map((rows as { id: string; users: number }[]).map((r) => [r.id, Number(r.users)]));
}
