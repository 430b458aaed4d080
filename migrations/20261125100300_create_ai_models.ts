import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ai_models (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      provider_id         uuid NOT NULL REFERENCES ai_providers (id) ON DELETE RESTRICT,
      name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      display_name        text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
      model_type          text NOT NULL CHECK (model_type IN ('llm', 'vision', 'embedding')),
      status              text NOT NULL DEFAULT 'available'
                          CHECK (status IN ('available', 'beta', 'deprecated', 'offline')),
      input_price_per_1k  numeric(12, 6) NOT NULL CHECK (input_price_per_1k >= 0),
      output_price_per_1k numeric(12, 6) NOT NULL CHECK (output_price_per_1k >= 0),
      context_window      integer CHECK (context_window > 0),
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      UNIQUE (provider_id, name)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE ai_models');
}
