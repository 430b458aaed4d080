import type { Knex } from 'knex';

// Rollouts in protected environments (issue 18): starting one is filed as a change request of kind
// `rollout`, carrying the start as asked (`rollout`: candidate, stages, guard); approval starts it
// (`rollout_id`), the checks run again then. An applied or refused rollout request has no deployment:
// the outcome check allows that for this kind only.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE change_requests
      ADD COLUMN rollout    jsonb,
      ADD COLUMN rollout_id uuid REFERENCES rollouts (id) ON DELETE RESTRICT,
      DROP CONSTRAINT change_requests_kind_check,
      ADD CONSTRAINT change_requests_kind_check CHECK (kind IN ('assign', 'promote', 'rollback', 'rollout')),
      ADD CONSTRAINT change_requests_rollout CHECK ((kind = 'rollout') = (rollout IS NOT NULL));
    DO $$
    DECLARE c text;
    BEGIN
      SELECT conname INTO c FROM pg_constraint
       WHERE conrelid = 'change_requests'::regclass AND pg_get_constraintdef(oid) LIKE '%deployment_id IS NOT NULL%';
      EXECUTE format('ALTER TABLE change_requests DROP CONSTRAINT %I', c);
    END $$;
    ALTER TABLE change_requests ADD CONSTRAINT change_requests_outcome
      CHECK (status NOT IN ('applied', 'refused') OR deployment_id IS NOT NULL OR kind = 'rollout');
    ALTER TABLE change_requests ADD CONSTRAINT change_requests_rollout_applied
      CHECK (kind <> 'rollout' OR status <> 'applied' OR rollout_id IS NOT NULL);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM change_requests WHERE kind = 'rollout';
    ALTER TABLE change_requests
      DROP CONSTRAINT change_requests_rollout_applied,
      DROP CONSTRAINT change_requests_outcome,
      DROP CONSTRAINT change_requests_rollout,
      DROP CONSTRAINT change_requests_kind_check,
      ADD CONSTRAINT change_requests_kind_check CHECK (kind IN ('assign', 'promote', 'rollback')),
      ADD CONSTRAINT change_requests_check1 CHECK (status NOT IN ('applied', 'refused') OR deployment_id IS NOT NULL),
      DROP COLUMN rollout_id,
      DROP COLUMN rollout;
  `);
}
