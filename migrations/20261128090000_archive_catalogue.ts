import type { Knex } from 'knex';

// Providers, models and features can be archived: hidden from pickers and default lists, their
// history (audit, deployments, assignments, usage) kept. Who archived it is the actor's label.
const TABLES = ['ai_providers', 'ai_models', 'ai_features'];

export async function up(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`
      ALTER TABLE ${table}
        ADD COLUMN archived_at timestamptz,
        ADD COLUMN archived_by text,
        ADD CONSTRAINT ${table}_archived_by CHECK ((archived_at IS NULL) = (archived_by IS NULL))
    `);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`ALTER TABLE ${table} DROP COLUMN archived_at, DROP COLUMN archived_by`);
  }
}
