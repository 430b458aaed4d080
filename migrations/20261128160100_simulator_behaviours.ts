import type { Knex } from 'knex';

// How the built-in simulator answers for a model (issue 19): kept in the database, so a setting
// survives a restart and every app instance's simulator answers alike (each rereads it every few seconds).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE simulator_behaviours (
      model_name text PRIMARY KEY,
      latency_ms integer NOT NULL CHECK (latency_ms BETWEEN 0 AND 120000),
      error_rate double precision NOT NULL CHECK (error_rate BETWEEN 0 AND 1),
      updated_by text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE simulator_behaviours');
}
