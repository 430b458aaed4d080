import type { Knex } from 'knex';

// The kill switch (SPEC §10.3): why a feature is not active, and when it becomes active again on its
// own (the restore-status job). An active feature has neither.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ai_features
      ADD COLUMN status_reason text CHECK (length(status_reason) BETWEEN 1 AND 500),
      ADD COLUMN restore_at timestamptz,
      ADD CONSTRAINT ai_features_active_has_no_reason CHECK (status <> 'active' OR (status_reason IS NULL AND restore_at IS NULL));
    CREATE INDEX ai_features_restore_at ON ai_features (restore_at) WHERE restore_at IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ai_features DROP CONSTRAINT ai_features_active_has_no_reason, DROP COLUMN status_reason, DROP COLUMN restore_at;
  `);
}
