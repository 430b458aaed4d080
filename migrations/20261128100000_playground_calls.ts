import type { Knex } from 'knex';

// Playground calls (issue 16): a test call's usage, with its `test-<uuid>` event id, kept in a table of
// its own so that no production figure (overview, rollups, budgets) ever counts it.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE playground_calls (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      event_id          text NOT NULL UNIQUE CHECK (event_id LIKE 'test-%'),
      feature_id        uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      model_id          uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      prompt_version_id uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      environment       text CHECK (environment IN ('development', 'staging', 'production')),
      ok                boolean NOT NULL,
      error             text,
      latency_ms        integer NOT NULL CHECK (latency_ms >= 0),
      input_tokens      integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
      output_tokens     integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
      cost_usd          numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
      created_by        text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX playground_calls_feature ON playground_calls (feature_id, created_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE playground_calls');
}
