/**
 * Generates the demo usage history inside PostgreSQL, in one set-based statement: minute slots
 * weighted by a daily and weekly rhythm, expanded into events, each routed to the model that
 * served its feature and environment at that time (the demo assignments). Named bindings (never
 * write a colon-word in the SQL, even in a comment: knex would bind it):
 * :now, :minutes, :slotFrom, :slotTo (the slice of minute slots to generate), :total (events in
 * that slice), :users, :baseError, :timeoutRate and the JSON profiles :features, :latency,
 * :incidents (see demo.ts). Writes ai_usage_logs and ai_usage_event_keys with the same event ids.
 * Each event carries the prompt version active for its feature and environment at its time (the demo
 * prompts are seeded first), so the overview's split by prompt version has something to show.
 */
export const USAGE_SQL = `
WITH
-- The small lookup sets are MATERIALIZED so that each is built once and hash-joined, not
-- re-evaluated per event. Who served what, when: the demo assignment history, with each
-- model's latency profile.
timeline AS MATERIALIZED (
  SELECT a.feature_id, a.environment, a.model_id, m.provider_id,
         a.assigned_at AS t_from, coalesce(a.deactivated_at, 'infinity') AS t_to,
         coalesce(p.median_ms, 1000) AS median_ms, coalesce(p.sigma, 0.4) AS sigma
  FROM feature_model_assignments a
  JOIN ai_models m ON m.id = a.model_id
  LEFT JOIN jsonb_to_recordset(:latency::jsonb) AS p(model text, median_ms float8, sigma float8) ON p.model = m.name
  WHERE a.assigned_by = 'demo-seed'
),
-- Share of traffic (a slice [lo, hi) of a uniform draw) and token profile per feature.
features AS MATERIALIZED (
  SELECT f.id, t.lo, t.hi, t.in_median, t.in_sigma, t.out_median, t.out_sigma
  FROM ai_features f
  JOIN jsonb_to_recordset(:features::jsonb)
       AS t(name text, lo float8, hi float8, in_median float8, in_sigma float8, out_median float8, out_sigma float8)
    ON t.name = f.name
),
-- Which prompt version each feature and environment ran, when (none before its first activation).
prompt_timeline AS MATERIALIZED (
  SELECT a.feature_id, a.environment, v.version, a.activated_at AS t_from, coalesce(a.deactivated_at, 'infinity') AS t_to
  FROM prompt_activations a JOIN prompt_versions v ON v.id = a.prompt_version_id
),
incidents AS MATERIALIZED (
  SELECT f.id AS feature_id, x.t_from, x.t_to, x.error_rate, x.latency_factor
  FROM jsonb_to_recordset(:incidents::jsonb)
       AS x(feature text, t_from timestamptz, t_to timestamptz, error_rate float8, latency_factor float8)
  JOIN ai_features f ON f.name = x.feature
),
-- One slot per minute, oldest first, so ids grow with time as the rollups' id cursor expects.
-- Weight: trough at 03:00 UTC, peak at 15:00 UTC, weekends at 60 %, and a slight growth over
-- the period so the trend lines are not flat.
slots AS (
  SELECT i, t0, w / sum(w) OVER () AS share
  FROM (
    SELECT i, t0,
           (0.3 + 0.7 * (0.5 - 0.5 * cos(2 * pi() * (extract(epoch FROM t0) / 3600 - 3) / 24)))
           * CASE WHEN extract(isodow FROM t0 AT TIME ZONE 'UTC') >= 6 THEN 0.6 ELSE 1 END
           * (0.9 + 0.1 * i::float8 / :minutes::int) AS w
    FROM (SELECT i, :now::timestamptz - (:minutes::int - i) * interval '1 minute' AS t0
          FROM generate_series(:slotFrom::int, :slotTo::int - 1) AS i) s
  ) s
),
-- The events: a slot's count is its share of the total, rounded at random so the sum stays close.
-- Draws are materialised once per row; (1 - random()) lies in (0, 1], so created_at lies in
-- (now - days, now] and ln() never sees 0. rad/ang are Box-Muller pairs: two normals each.
events AS MATERIALIZED (
  SELECT 'demo-' || lpad(s.i::text, 8, '0') || '-' || g AS event_id,
         s.t0 + (1 - random()) * interval '1 minute' AS created_at,
         random() AS r_feature, random() AS r_env, random() AS r_status, random() AS r_user,
         sqrt(-2 * ln(1 - random())) AS rad1, 2 * pi() * random() AS ang1,
         sqrt(-2 * ln(1 - random())) AS rad2, 2 * pi() * random() AS ang2
  FROM slots s, generate_series(1, floor(s.share * :total::int + random())::int) AS g
),
routed AS (
  SELECT e.event_id, e.created_at, e.r_user, t.feature_id, t.environment, t.model_id, t.provider_id, pt.version AS prompt_version,
         t.median_ms * exp(t.sigma * e.rad1 * cos(e.ang1)) * coalesce(x.latency_factor, 1) AS latency,
         greatest(1, round(f.in_median * exp(f.in_sigma * e.rad1 * sin(e.ang1))))::int AS input_tokens,
         CASE WHEN f.out_median = 0 THEN 0
              ELSE greatest(1, round(f.out_median * exp(f.out_sigma * e.rad2 * cos(e.ang2))))::int END AS output_tokens,
         CASE WHEN e.r_status < :timeoutRate::float8 THEN 'timeout'
              WHEN e.r_status < :timeoutRate::float8 + coalesce(x.error_rate, :baseError::float8) THEN 'error'
              ELSE 'success' END AS status
  FROM events e
  JOIN features f ON e.r_feature >= f.lo AND e.r_feature < f.hi
  JOIN timeline t
    ON t.feature_id = f.id
   AND t.environment = CASE WHEN e.r_env < 0.93 THEN 'production' WHEN e.r_env < 0.98 THEN 'staging' ELSE 'development' END
   AND e.created_at >= t.t_from AND e.created_at < t.t_to
  LEFT JOIN incidents x ON x.feature_id = f.id AND e.created_at >= x.t_from AND e.created_at < x.t_to
  LEFT JOIN prompt_timeline pt
    ON pt.feature_id = t.feature_id AND pt.environment = t.environment AND e.created_at >= pt.t_from AND e.created_at < pt.t_to
),
logs AS (
  SELECT event_id, feature_id, model_id, provider_id, environment,
         -- Skewed: low user numbers are the heavy users.
         'user-' || (1 + floor(:users::int * r_user * r_user))::int AS end_user_id,
         status,
         CASE status WHEN 'timeout' THEN 30000
                     WHEN 'error' THEN round(latency * 0.4)::int -- failures tend to come back early
                     ELSE least(round(latency), 29999)::int END AS response_time_ms,
         input_tokens,
         CASE WHEN status = 'success' THEN output_tokens ELSE 0 END AS output_tokens,
         created_at, prompt_version
  FROM routed
),
keys AS (
  INSERT INTO ai_usage_event_keys (event_id, created_at) SELECT event_id, created_at FROM logs
)
INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status,
                           response_time_ms, input_tokens, output_tokens, cost_usd, input_cost_usd, created_at, ingested_at,
                           prompt_version)
SELECT l.event_id, l.feature_id, l.model_id, l.provider_id, l.environment, l.end_user_id, l.status,
       l.response_time_ms, l.input_tokens, l.output_tokens,
       round(l.input_tokens * m.input_price_per_1k / 1000, 8) + round(l.output_tokens * m.output_price_per_1k / 1000, 8),
       round(l.input_tokens * m.input_price_per_1k / 1000, 8),
       l.created_at, l.created_at, l.prompt_version
FROM logs l JOIN ai_models m ON m.id = l.model_id
`;
