import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE api_keys (
      id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      -- SHA-256 of the whole token: tokens are 256-bit random, so a fast hash is enough.
      token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
      prefix       text NOT NULL,
      scope        text NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
      created_by   text NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at   timestamptz
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE api_keys');
}
