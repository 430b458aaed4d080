import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ai_providers (
      id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name               text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      display_name       text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
      kind               text NOT NULL CHECK (kind IN ('openai-compatible', 'simulator')),
      -- The simulator is served by the app itself, so it has no base URL of its own.
      base_url           text CHECK (base_url ~ '^(http|https)://'),
      api_key_ciphertext bytea,
      api_key_last4      text CHECK (length(api_key_last4) <= 4),
      status             text NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive', 'error')),
      created_at         timestamptz NOT NULL DEFAULT now(),
      updated_at         timestamptz NOT NULL DEFAULT now(),
      CHECK (kind = 'simulator' OR base_url IS NOT NULL),
      CHECK ((api_key_ciphertext IS NULL) = (api_key_last4 IS NULL))
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE ai_providers');
}
