import { bucketOf, HIST_COLUMNS, SUM_COLUMNS } from './histogram.ts';
import { hashesSql, hashSql } from './user-sketch.ts';

/** A day's requests in each UTC hour of it (epoch hours are UTC), from its minute groups. */
const hourRequests = Array.from(
  { length: 24 },
  (_, h) => `coalesce(sum(requests) FILTER (WHERE (extract(epoch FROM bucket)::bigint / 3600) % 24 = ${h}), 0)::int`,
).join(', ');

/**
 * One statement that folds a set of raw rows (chosen by `where` over ai_usage_logs l) into every
 * rollup: minute, hour and day buckets, spend per month and per-minute counts for uptime; it returns, per feature and
 * minute, the rows folded and their users' hashes, which foldUserSketches adds to the sketches.
 * Upserts add to what is there, so late events land in their own (old) buckets. `cursorTo`: SQL of
 * where the rollup cursor moves in the same statement (the tick's), if it does.
 */
export function foldRowsSql(where: string, cursorTo?: string): string {
  const addOnConflict = SUM_COLUMNS.map((c) => `${c} = t.${c} + excluded.${c}`).join(', ');
  // prompt_version: 0 when the event named none (a key column cannot be NULL).
  const keyCols = 'feature_id, model_id, provider_id, environment, prompt_version';
  const conflictKey = 'feature_id, bucket, model_id, provider_id, environment, prompt_version';
  const moved = cursorTo ? `,\nmoved AS (UPDATE rollup_cursors SET last_id = ${cursorTo}, updated_at = now() WHERE name = 'usage')` : '';
  return `
-- The raw rows read once, with only what the rollups need (and the user's hash), streamed straight
-- into the grouping: nothing reads them again, so they are not materialized. date_bin is integer
-- arithmetic where date_trunc converts every timestamp to calendar fields and back.
WITH raw AS (
  SELECT date_bin('1 minute', l.created_at, timestamptz 'epoch') AS bucket, l.feature_id, l.model_id, l.environment,
         l.prompt_version, ${bucketOf('l.response_time_ms')} AS hb, l.status, l.response_time_ms,
         l.input_tokens, l.output_tokens, l.cost_usd, l.input_cost_usd, ${hashSql('l')} AS h
  FROM ai_usage_logs l WHERE ${where}
),
-- First group by bucket, key and latency bucket (a few hundred groups), then pivot those into the
-- histogram columns: the 39 FILTERs then run over groups, not over every raw row. Each group also
-- collects its users' hashes, which the last step concatenates per feature and minute. Work per raw
-- row is what a tick costs, so what can wait for the groups does: prompt_version stays NULL here (a
-- group of its own all the same), and successes are the rest of the requests (status is one of three).
grouped AS MATERIALIZED (
  SELECT bucket, feature_id, model_id, environment, prompt_version, hb,
         count(*)::int AS requests,
         count(*) FILTER (WHERE status = 'error')::int AS errors,
         count(*) FILTER (WHERE status = 'timeout')::int AS timeouts,
         sum(response_time_ms)::bigint AS latency_sum_ms,
         sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
         sum(cost_usd) AS cost_usd, sum(input_cost_usd) AS input_cost_usd, ${hashesSql('h')} AS hashes
  FROM raw GROUP BY 1, 2, 3, 4, 5, 6
),
-- prompt_version: 0 when the event named none (a key column cannot be NULL). The provider is the
-- model's: ingestion writes each event's from its model, whose provider never changes (a trigger
-- refuses it), so it is looked up once per group instead of grouped on for every raw row.
minute_agg AS MATERIALIZED (
  SELECT g.bucket, g.feature_id, g.model_id, m.provider_id, g.environment, coalesce(g.prompt_version, 0) AS prompt_version,
         sum(requests)::int AS requests, (sum(requests) - sum(errors) - sum(timeouts))::int AS successes, sum(errors)::int AS errors,
         sum(timeouts)::int AS timeouts, sum(latency_sum_ms)::bigint AS latency_sum_ms,
         ${HIST_COLUMNS.map((c, i) => `coalesce(sum(requests) FILTER (WHERE hb = ${i + 1}), 0)::int AS ${c}`).join(', ')},
         sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens,
         sum(cost_usd) AS cost_usd, sum(input_cost_usd) AS input_cost_usd
  FROM grouped g JOIN ai_models m ON m.id = g.model_id GROUP BY 1, 2, 3, 4, 5, 6
),
to_minutes AS (
  INSERT INTO usage_rollup_minute AS t (bucket, ${keyCols}, ${SUM_COLUMNS.join(', ')})
  SELECT bucket, ${keyCols}, ${SUM_COLUMNS.join(', ')} FROM minute_agg
  ON CONFLICT (${conflictKey}) DO UPDATE SET ${addOnConflict}
),
to_hours AS (
  INSERT INTO usage_rollup_hour AS t (bucket, ${keyCols}, ${SUM_COLUMNS.join(', ')})
  SELECT date_trunc('hour', bucket), ${keyCols}, ${SUM_COLUMNS.map((c) => `sum(${c})`).join(', ')}
  FROM minute_agg GROUP BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (${conflictKey}) DO UPDATE SET ${addOnConflict}
),
-- Day rows also keep their requests per UTC hour of the day, which local hours read (queries.ts).
to_days AS (
  INSERT INTO usage_rollup_day AS t (bucket, ${keyCols}, ${SUM_COLUMNS.join(', ')}, hour_requests)
  SELECT date_trunc('day', bucket), ${keyCols}, ${SUM_COLUMNS.map((c) => `sum(${c})`).join(', ')}, ARRAY[${hourRequests}]
  FROM minute_agg GROUP BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (${conflictKey}) DO UPDATE SET ${addOnConflict}, hour_requests = add_arrays(t.hour_requests, excluded.hour_requests)
),
-- Spend per UTC month (month-to-date reads one row per series instead of a day row per day).
to_months AS (
  INSERT INTO usage_spend_month AS t (bucket, feature_id, model_id, provider_id, environment, cost_usd)
  SELECT date_trunc('month', bucket, 'UTC'), feature_id, model_id, provider_id, environment, sum(cost_usd)
  FROM minute_agg GROUP BY 1, 2, 3, 4, 5
  ON CONFLICT (bucket, feature_id, model_id, provider_id, environment) DO UPDATE SET cost_usd = t.cost_usd + excluded.cost_usd
),
per_minute AS (
  SELECT scope, scope_id, date_trunc('hour', bucket) AS hour, extract(minute FROM bucket)::int AS i, sum(r) AS r, sum(f) AS f
  FROM (
    SELECT 'feature' AS scope, feature_id AS scope_id, bucket, requests AS r, errors + timeouts AS f FROM minute_agg
    UNION ALL SELECT 'model', model_id, bucket, requests, errors + timeouts FROM minute_agg
    UNION ALL SELECT 'provider', provider_id, bucket, requests, errors + timeouts FROM minute_agg
  ) x
  GROUP BY 1, 2, 3, 4
),
-- Each touched hour's minutes as they will be: what is stored (the rollup lock keeps other writers
-- out) plus this fold's, so each hour's bounds are computed once, over its final counts. The fold's
-- minutes of an hour (a tick touches one or two of them) travel as short arrays, added by position.
to_counts AS (
  INSERT INTO usage_minute_counts AS t (scope, scope_id, hour, requests, failures, worst_bp, minute_bps)
  SELECT d.scope, d.scope_id, d.hour, a.requests, a.failures, last_or_zero(b), b
  FROM (SELECT scope, scope_id, hour, array_agg(i) AS i, array_agg(r) AS r, array_agg(f) AS f FROM per_minute GROUP BY 1, 2, 3) d
  LEFT JOIN usage_minute_counts c ON c.scope = d.scope AND c.scope_id = d.scope_id AND c.hour = d.hour,
  LATERAL (
    SELECT array_agg((coalesce(c.requests[g.i + 1], 0) + coalesce(m.r, 0))::int ORDER BY g.i) AS requests,
           array_agg((coalesce(c.failures[g.i + 1], 0) + coalesce(m.f, 0))::int ORDER BY g.i) AS failures
    FROM generate_series(0, 59) AS g(i) LEFT JOIN unnest(d.i, d.r, d.f) AS m(i, r, f) ON m.i = g.i
  ) a, minute_lower_bps(a.requests, a.failures) AS b
  -- Each minute's Wilson lower bound (SPEC §4 uptime), sorted, and the highest of them.
  ON CONFLICT (scope, scope_id, hour) DO UPDATE
    SET (requests, failures, worst_bp, minute_bps) = (excluded.requests, excluded.failures, excluded.worst_bp, excluded.minute_bps)
)${moved}
-- Per feature and minute: the rows folded and their users' hashes, for foldUserSketches, in base64:
-- 8 bytes a row, the largest part of the answer, which as bytea would travel and be parsed as hex.
SELECT feature_id, (extract(epoch FROM bucket) * 1000)::float8 AS t, rows, encode(hashes, 'base64') AS hashes
FROM (SELECT feature_id, bucket, sum(requests)::int AS rows, string_agg(hashes, ''::bytea) AS hashes FROM grouped GROUP BY 1, 2) m`;
}
