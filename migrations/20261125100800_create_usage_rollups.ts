import type { Knex } from 'knex';

// Pre-aggregated usage per bucket and per feature × model × provider × environment, so dashboards
// read O(buckets) rows. lat_00 … lat_38 count requests per fixed latency bucket; their bounds are
// BOUNDS in src/metrics/histogram.ts (changing them needs a new migration and a rollup rebuild).
const HIST_COLUMNS = Array.from({ length: 39 }, (_v, i) => `lat_${String(i).padStart(2, '0')}`);
const rollupTable = (name: string) => `
  CREATE TABLE ${name} (
    bucket         timestamptz NOT NULL,
    feature_id     uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
    model_id       uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
    provider_id    uuid NOT NULL REFERENCES ai_providers (id) ON DELETE RESTRICT,
    environment    text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
    requests       integer NOT NULL CHECK (requests >= 0),
    successes      integer NOT NULL CHECK (successes >= 0),
    errors         integer NOT NULL CHECK (errors >= 0),
    timeouts       integer NOT NULL CHECK (timeouts >= 0),
    latency_sum_ms bigint NOT NULL CHECK (latency_sum_ms >= 0),
    ${HIST_COLUMNS.map((c) => `${c} integer NOT NULL DEFAULT 0`).join(',\n    ')},
    input_tokens   bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL CHECK (output_tokens >= 0),
    cost_usd       numeric(18, 8) NOT NULL CHECK (cost_usd >= 0),
    input_cost_usd numeric(18, 8) NOT NULL CHECK (input_cost_usd >= 0),
    PRIMARY KEY (feature_id, bucket, model_id, provider_id, environment),
    CHECK (requests = successes + errors + timeouts)
  );
  CREATE INDEX ${name}_model ON ${name} (model_id, bucket);
  CREATE INDEX ${name}_provider ON ${name} (provider_id, bucket);
`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ${rollupTable('usage_rollup_minute')}
    ${rollupTable('usage_rollup_hour')}
    ${rollupTable('usage_rollup_day')}

    -- Requests and failures per minute, one row per hour and feature, model or provider: what
    -- uptime ("good minutes") is counted from without reading a row per minute.
    CREATE TABLE usage_minute_counts (
      scope    text NOT NULL CHECK (scope IN ('feature', 'model', 'provider')),
      scope_id uuid NOT NULL,
      hour     timestamptz NOT NULL CHECK (date_trunc('hour', hour, 'UTC') = hour),
      requests integer[] NOT NULL CHECK (cardinality(requests) = 60),
      failures integer[] NOT NULL CHECK (cardinality(failures) = 60),
      -- The worst minute's error rate in basis points (rounded down): an hour whose worst minute is
      -- under a threshold has no bad minute, and its arrays need not be read.
      worst_bp integer NOT NULL,
      PRIMARY KEY (scope, scope_id, hour)
    );
    CREATE FUNCTION worst_minute_bp(requests integer[], failures integer[]) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(max(f::bigint * 10000 / r), 0)::integer FROM unnest(requests, failures) AS u(r, f) WHERE r > 0
    $$;

    -- The hour in which each end user of a feature was last seen. Users active in a window ending
    -- now are those last seen in a later hour than the window's first, plus those found in the raw
    -- rows of that first partial hour and of the rows not rolled up yet: exact, and one indexed count.
    CREATE TABLE usage_feature_users (
      feature_id     uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      end_user_id    text NOT NULL,
      last_seen_hour timestamptz NOT NULL CHECK (date_trunc('hour', last_seen_hour, 'UTC') = last_seen_hour),
      PRIMARY KEY (feature_id, end_user_id)
    ) WITH (fillfactor = 80);
    -- How many users have each hour as their last-seen hour: the first part of the count above
    -- reads at most one row per hour of the window.
    CREATE TABLE usage_user_hour_counts (
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      hour       timestamptz NOT NULL,
      -- No CHECK (users >= 0): a decrement is proposed as a negative row before ON CONFLICT adds it.
      users      integer NOT NULL,
      PRIMARY KEY (feature_id, hour)
    );

    -- How far the rollups have read ai_usage_logs, by id (insertion order).
    CREATE TABLE rollup_cursors (
      name       text PRIMARY KEY,
      last_id    bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO rollup_cursors (name) VALUES ('usage');

    -- Adds two arrays element by element (minute counts of the same hour).
    CREATE FUNCTION add_arrays(a integer[], b integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
    $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION add_arrays(integer[], integer[]);
    DROP FUNCTION worst_minute_bp(integer[], integer[]);
    DROP TABLE rollup_cursors;
    DROP TABLE usage_user_hour_counts;
    DROP TABLE usage_feature_users;
    DROP TABLE usage_minute_counts;
    DROP TABLE usage_rollup_day;
    DROP TABLE usage_rollup_hour;
    DROP TABLE usage_rollup_minute;
  `);
}
