import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE feature_model_assignments (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id       uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      model_id         uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      environment      text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      is_active        boolean NOT NULL DEFAULT true,
      assigned_at      timestamptz NOT NULL DEFAULT now(),
      assigned_by      text NOT NULL,
      deactivated_at   timestamptz,
      config_overrides jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config_overrides) = 'object'),
      CHECK (is_active = (deactivated_at IS NULL))
    );
    -- The invariant: at most one active assignment per feature and environment.
    CREATE UNIQUE INDEX feature_model_assignments_one_active
      ON feature_model_assignments (feature_id, environment) WHERE is_active;
    CREATE INDEX feature_model_assignments_history
      ON feature_model_assignments (feature_id, environment, assigned_at DESC);
    CREATE INDEX feature_model_assignments_model ON feature_model_assignments (model_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE feature_model_assignments');
}
