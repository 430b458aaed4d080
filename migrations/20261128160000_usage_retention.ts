import type { Knex } from 'knex';

// Retention (issue 19, SPEC §10.6). Raw usage is dropped by whole monthly partitions past
// RAW_RETENTION_DAYS (src/db/retention.ts); the rollups keep every figure. `usage_retention` remembers
// the instant before which raw rows may be gone, so a rollup rebuild never erases rollups it could
// not rebuild. Idempotency keys are kept a stated window after they were RECEIVED (not after the
// event's own time: a backfilled month-old event is still protected from a retry for the window), so
// keys gain `received_at` (rows already there count as received now) with a BRIN index: the keys
// arrive in that order, and pruning reads only the oldest block ranges.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ai_usage_event_keys ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX ai_usage_event_keys_received ON ai_usage_event_keys USING brin (received_at);
    CREATE TABLE usage_retention (
      id             boolean PRIMARY KEY DEFAULT true CHECK (id),
      dropped_before timestamptz,
      updated_at     timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO usage_retention DEFAULT VALUES;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE usage_retention;
    DROP INDEX ai_usage_event_keys_received;
    ALTER TABLE ai_usage_event_keys DROP COLUMN received_at;
  `);
}
