import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE prompt_versions (
      id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      version    integer NOT NULL CHECK (version > 0),
      template   text NOT NULL CHECK (length(template) BETWEEN 1 AND 100000),
      notes      text NOT NULL DEFAULT '' CHECK (length(notes) <= 2000),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (feature_id, version),
      UNIQUE (id, feature_id)
    );
    CREATE TABLE prompt_activations (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id        uuid NOT NULL,
      prompt_version_id uuid NOT NULL,
      environment       text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      is_active         boolean NOT NULL DEFAULT true,
      activated_at      timestamptz NOT NULL DEFAULT now(),
      activated_by      text NOT NULL,
      deactivated_at    timestamptz,
      -- The version must belong to the same feature.
      FOREIGN KEY (prompt_version_id, feature_id) REFERENCES prompt_versions (id, feature_id) ON DELETE RESTRICT,
      CHECK (is_active = (deactivated_at IS NULL))
    );
    CREATE UNIQUE INDEX prompt_activations_one_active
      ON prompt_activations (feature_id, environment) WHERE is_active;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE prompt_activations; DROP TABLE prompt_versions;');
}
