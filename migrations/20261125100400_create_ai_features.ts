import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ai_features (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name                 text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      display_name         text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 120),
      description          text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
      status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'maintenance')),
      required_model_type  text NOT NULL CHECK (required_model_type IN ('llm', 'vision', 'embedding')),
      -- Settings: a minute is bad at or above this error rate (SPEC §4), and the spend budget.
      error_rate_threshold numeric(5, 2) NOT NULL DEFAULT 5 CHECK (error_rate_threshold BETWEEN 0 AND 100),
      latency_threshold_ms integer NOT NULL DEFAULT 2000 CHECK (latency_threshold_ms > 0),
      monthly_budget_usd   numeric(12, 2) CHECK (monthly_budget_usd >= 0),
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE ai_features');
}
