import type { Knex } from 'knex';

// Pre-aggregated usage per bucket and per feature × model × provider × environment, so that
// dashboards read O(buckets) rows. latency_hist holds counts per fixed latency bucket (the bounds
// live with the metrics code); rollup_cursors records how far each rollup has read the raw rows.
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
    latency_hist   integer[] NOT NULL,
    input_tokens   bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL CHECK (output_tokens >= 0),
    cost_usd       numeric(18, 8) NOT NULL CHECK (cost_usd >= 0),
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
    CREATE TABLE rollup_cursors (
      name       text PRIMARY KEY,
      last_id    bigint NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rollup_cursors; DROP TABLE usage_rollup_hour; DROP TABLE usage_rollup_minute;');
}
