import type { Knex } from 'knex';

// Unique users from HyperLogLog sketches (issue 19; src/metrics/user-sketch.ts says how a sketch is
// made and stored): per feature and bucket of five grains (1 min, 10 min, 1 h, 6 h, 1 day, in ms), so
// the fold writes a few sketches per feature and minute instead of a row per user, and any window is
// read from a few dozen buckets. They replace the users' last-seen hours. Up fills them from the raw
// rows already folded (the hash and register rule below are the fold's, frozen here as sparse pairs;
// a sketch with exactly M/4 = 4096 registers set repeats its first pair, so it is never taken for a
// dense one); down brings the last-seen hours back from the same rows.
const GRAINS_MS = [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE usage_user_sketches (
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      grain_ms   integer NOT NULL CHECK (grain_ms IN (${GRAINS_MS.join(', ')})),
      bucket     timestamptz NOT NULL,
      registers  bytea NOT NULL,
      PRIMARY KEY (feature_id, grain_ms, bucket)
    );
    -- Dense sketches (16 KiB of small numbers) gain little from compression: stored as they are.
    ALTER TABLE usage_user_sketches ALTER COLUMN registers SET STORAGE EXTERNAL;
    WITH hashed AS (
      SELECT l.feature_id, date_trunc('minute', l.created_at) AS minute, hashtextextended(l.end_user_id, 0) AS h
      FROM ai_usage_logs l
      WHERE l.end_user_id IS NOT NULL AND l.id <= (SELECT last_id FROM rollup_cursors WHERE name = 'usage')
    ),
    minutes AS MATERIALIZED (
      SELECT feature_id, minute, idx, max(rho) AS rho FROM (
        SELECT feature_id, minute, (h & 16383)::int AS idx,
               CASE WHEN h >> 14 = 0 THEN 51 ELSE round(ln(((h >> 14) & -(h >> 14))::float8) / ln(2))::int + 1 END AS rho
        FROM hashed
      ) x GROUP BY 1, 2, 3
    ),
    grains AS (
      SELECT feature_id, g AS grain_ms, to_timestamp(floor(extract(epoch FROM minute) * 1000 / g) * g / 1000) AS bucket, idx, max(rho) AS rho
      FROM minutes, unnest('{${GRAINS_MS.join(',')}}'::int[]) AS g GROUP BY 1, 2, 3, 4
    )
    INSERT INTO usage_user_sketches (feature_id, grain_ms, bucket, registers)
    SELECT feature_id, grain_ms, bucket,
           string_agg(int4send(idx * 256 + rho), ''::bytea) || CASE WHEN count(*) = 4096 THEN int4send(min(idx) * 256 + 1) ELSE ''::bytea END
    FROM grains GROUP BY 1, 2, 3;
    DROP TABLE usage_user_hour_counts;
    DROP TABLE usage_feature_users;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE usage_feature_users (
      feature_id     uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      end_user_id    text NOT NULL,
      last_seen_hour timestamptz NOT NULL CHECK (date_trunc('hour', last_seen_hour, 'UTC') = last_seen_hour),
      PRIMARY KEY (feature_id, end_user_id)
    ) WITH (fillfactor = 80);
    CREATE TABLE usage_user_hour_counts (
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      hour       timestamptz NOT NULL,
      users      integer NOT NULL,
      PRIMARY KEY (feature_id, hour)
    );
    INSERT INTO usage_feature_users (feature_id, end_user_id, last_seen_hour)
    SELECT feature_id, end_user_id, date_trunc('hour', max(created_at), 'UTC') FROM ai_usage_logs
    WHERE end_user_id IS NOT NULL AND id <= (SELECT last_id FROM rollup_cursors WHERE name = 'usage') GROUP BY 1, 2;
    INSERT INTO usage_user_hour_counts (feature_id, hour, users)
    SELECT feature_id, last_seen_hour, count(*) FROM usage_feature_users GROUP BY 1, 2;
    DROP TABLE usage_user_sketches;
  `);
}
