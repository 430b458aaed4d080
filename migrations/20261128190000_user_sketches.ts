import type { Knex } from 'knex';

// Unique users from HyperLogLog sketches (issue 19; src/metrics/user-sketch.ts says how a sketch is
// made and stored): per feature and bucket of five grains (1 min, 10 min, 1 h, 6 h, 1 day, in ms), so
// the fold writes a few sketches per feature and minute instead of a row per user, and any window is
// read from a few dozen buckets. They replace the users' last-seen hours. Up fills them from the raw
// rows already folded (the hash, the 1,024 hashes kept exactly and the 2^14 registers past them are
// the fold's, frozen here); down brings the last-seen hours back from the same rows.
const GRAINS_MS = [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000];
const SET_MAX = 1024;
const M = 16_384;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE usage_user_sketches (
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      grain_ms   integer NOT NULL CHECK (grain_ms IN (${GRAINS_MS.join(', ')})),
      bucket     timestamptz NOT NULL,
      registers  bytea NOT NULL,
      PRIMARY KEY (feature_id, grain_ms, bucket)
    );
    -- Registers (16 KiB of small numbers) and hashes gain little from compression: stored as they are.
    ALTER TABLE usage_user_sketches ALTER COLUMN registers SET STORAGE EXTERNAL;
    WITH users AS MATERIALIZED (
      SELECT DISTINCT l.feature_id, date_trunc('minute', l.created_at) AS minute, hashtextextended(l.end_user_id, 0) AS h
      FROM ai_usage_logs l
      WHERE l.end_user_id IS NOT NULL AND l.id <= (SELECT last_id FROM rollup_cursors WHERE name = 'usage')
    ),
    bucketed AS MATERIALIZED (
      SELECT DISTINCT feature_id, g AS grain_ms, to_timestamp(floor(extract(epoch FROM minute) * 1000 / g) * g / 1000) AS bucket, h
      FROM users, unnest('{${GRAINS_MS.join(',')}}'::int[]) AS g
    ),
    sized AS MATERIALIZED (
      SELECT feature_id, grain_ms, bucket, count(*) > ${SET_MAX} AS big FROM bucketed GROUP BY 1, 2, 3
    ),
    registers AS (
      SELECT b.feature_id, b.grain_ms, b.bucket, (b.h & ${M - 1})::int AS idx,
             max(CASE WHEN b.h >> 14 = 0 THEN 51 ELSE round(ln(((b.h >> 14) & -(b.h >> 14))::float8) / ln(2))::int + 1 END) AS rho
      FROM bucketed b JOIN sized s USING (feature_id, grain_ms, bucket) WHERE s.big GROUP BY 1, 2, 3, 4
    )
    INSERT INTO usage_user_sketches (feature_id, grain_ms, bucket, registers)
    SELECT b.feature_id, b.grain_ms, b.bucket, string_agg(int8send(b.h), ''::bytea ORDER BY int8send(b.h))
    FROM bucketed b JOIN sized s USING (feature_id, grain_ms, bucket) WHERE NOT s.big GROUP BY 1, 2, 3
    UNION ALL
    SELECT s.feature_id, s.grain_ms, s.bucket, decode(string_agg(lpad(to_hex(coalesce(r.rho, 0)), 2, '0'), '' ORDER BY i), 'hex')
    FROM sized s CROSS JOIN generate_series(0, ${M - 1}) AS i
    LEFT JOIN registers r ON r.feature_id = s.feature_id AND r.grain_ms = s.grain_ms AND r.bucket = s.bucket AND r.idx = i
    WHERE s.big GROUP BY 1, 2, 3;
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
