import type { Knex } from 'knex';

// Spend per UTC month and feature × model × provider × environment, kept by the fold with the other
// rollups (src/metrics/rollup-sql.ts). Month-to-date spend (the overview, a feature's settings, a
// provider) read every day row of the month: 30 rows per series, ~6,000 at 200 features, the largest
// read of the overview left (issue 19). It now reads one row per series. Filled here from the day rows,
// under the rollup lock so that no fold runs in between.
const ROLLUP_LOCK = 0x5b_0001;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('SELECT pg_advisory_xact_lock(?)', [ROLLUP_LOCK]);
  await knex.raw(`
    CREATE TABLE usage_spend_month (
      bucket      timestamptz NOT NULL,
      feature_id  uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      model_id    uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      provider_id uuid NOT NULL REFERENCES ai_providers (id) ON DELETE RESTRICT,
      environment text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      cost_usd    numeric(18, 8) NOT NULL CHECK (cost_usd >= 0),
      PRIMARY KEY (bucket, feature_id, model_id, provider_id, environment)
    );
    INSERT INTO usage_spend_month (bucket, feature_id, model_id, provider_id, environment, cost_usd)
    SELECT date_trunc('month', bucket, 'UTC'), feature_id, model_id, provider_id, environment, sum(cost_usd)
    FROM usage_rollup_day GROUP BY 1, 2, 3, 4, 5;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE usage_spend_month');
}
