import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE deployments (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id        uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      model_id          uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      previous_model_id uuid REFERENCES ai_models (id) ON DELETE RESTRICT,
      environment       text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      kind              text NOT NULL CHECK (kind IN ('assign', 'promote', 'rollback')),
      status            text NOT NULL DEFAULT 'in_progress'
                        CHECK (status IN ('in_progress', 'success', 'failed', 'rolled_back')),
      requested_by      text NOT NULL,
      assignment_id     uuid REFERENCES feature_model_assignments (id) ON DELETE RESTRICT,
      started_at        timestamptz NOT NULL DEFAULT now(),
      finished_at       timestamptz,
      checks            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(checks) = 'array'),
      error             text,
      CHECK ((status = 'in_progress') = (finished_at IS NULL)),
      CHECK (status <> 'success' OR assignment_id IS NOT NULL)
    );
    CREATE INDEX deployments_recent ON deployments (started_at DESC);
    CREATE INDEX deployments_feature ON deployments (feature_id, environment, started_at DESC);
    CREATE INDEX deployments_model ON deployments (model_id, started_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE deployments');
}
