import type { Knex } from 'knex';

// Failed sign-ins counted per window, shared by every app instance on the database. The key is an
// HMAC of what is counted (an address, an account, both): no email or address is stored as such.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE login_failures (
      key      text PRIMARY KEY,
      hits     integer NOT NULL CHECK (hits >= 0),
      reset_at timestamptz NOT NULL
    );
    CREATE INDEX login_failures_reset_at ON login_failures (reset_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE login_failures');
}
