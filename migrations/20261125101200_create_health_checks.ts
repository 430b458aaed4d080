import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE health_checks (
      id          bigserial PRIMARY KEY,
      provider_id uuid NOT NULL REFERENCES ai_providers (id) ON DELETE RESTRICT,
      model_id    uuid REFERENCES ai_models (id) ON DELETE RESTRICT,
      kind        text NOT NULL CHECK (kind IN ('probe', 'smoke', 'manual')),
      status      text NOT NULL CHECK (status IN ('ok', 'error')),
      latency_ms  integer CHECK (latency_ms >= 0),
      error       text,
      checked_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX health_checks_provider ON health_checks (provider_id, checked_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE health_checks');
}
