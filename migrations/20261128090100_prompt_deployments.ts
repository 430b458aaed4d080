import type { Knex } from 'knex';

// One history for models and prompts (issue 15): a deployment's subject is a model change or a
// prompt activation. A prompt deployment records the environment's model it was checked with
// (model_id, the smoke request's model) and the versions it moves the pointer between; its success
// is the activation it made, not an assignment. A prompt activation keeps the deployment that made
// it and what was active before; a change request in a protected environment may ask for one.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE deployments
      ADD COLUMN subject                    text NOT NULL DEFAULT 'model' CHECK (subject IN ('model', 'prompt')),
      ADD COLUMN prompt_version_id          uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      ADD COLUMN previous_prompt_version_id uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      ADD COLUMN reason                     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
      ADD CONSTRAINT deployments_prompt_subject CHECK ((subject = 'prompt') = (prompt_version_id IS NOT NULL));
    DO $$
    DECLARE c text;
    BEGIN
      SELECT conname INTO STRICT c FROM pg_constraint
       WHERE conrelid = 'deployments'::regclass AND pg_get_constraintdef(oid) LIKE '%assignment_id IS NOT NULL%';
      EXECUTE format('ALTER TABLE deployments DROP CONSTRAINT %I', c);
    END $$;
    ALTER TABLE deployments
      ADD CONSTRAINT deployments_success_assigned CHECK (status <> 'success' OR subject = 'prompt' OR assignment_id IS NOT NULL);
    CREATE INDEX deployments_prompt ON deployments (feature_id, started_at DESC) WHERE subject = 'prompt';

    ALTER TABLE prompt_activations
      ADD COLUMN previous_version_id uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      ADD COLUMN deployment_id       uuid REFERENCES deployments (id) ON DELETE RESTRICT;

    ALTER TABLE change_requests
      ADD COLUMN prompt_version_id          uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      ADD COLUMN previous_prompt_version_id uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE change_requests DROP COLUMN prompt_version_id, DROP COLUMN previous_prompt_version_id;
    ALTER TABLE prompt_activations DROP COLUMN previous_version_id, DROP COLUMN deployment_id;
    DROP INDEX deployments_prompt;
    ALTER TABLE deployments DROP CONSTRAINT deployments_success_assigned;
    DELETE FROM deployments WHERE subject = 'prompt';
    ALTER TABLE deployments
      DROP COLUMN subject, DROP COLUMN prompt_version_id, DROP COLUMN previous_prompt_version_id, DROP COLUMN reason,
      ADD CHECK (status <> 'success' OR assignment_id IS NOT NULL);
  `);
}
