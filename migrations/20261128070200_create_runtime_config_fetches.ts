import type { Knex } from 'knex';

// Which clients have picked up a feature's config: one row per (token, feature, environment),
// upserted on every fetch of the runtime config with the version served and when (no row per poll).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE runtime_config_fetches (
      api_key_id      uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      feature_id      uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      environment     text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      last_version    text NOT NULL,
      last_fetched_at timestamptz NOT NULL,
      PRIMARY KEY (feature_id, environment, api_key_id)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE runtime_config_fetches');
}
