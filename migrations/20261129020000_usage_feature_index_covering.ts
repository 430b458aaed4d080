import type { Knex } from 'knex';

// Exact percentiles (a range with few events, SPEC §4) read a feature's raw rows by the index on
// (feature_id, created_at), and then each row's heap page for its environment and latency. The index
// now carries both (INCLUDE), so the read is an index-only scan where the pages are all-visible; at
// 200 features the overview's exact percentiles took 8.1 ms instead of 14.5 (EXPLAIN ANALYZE, timing off; issue 19).
//
// Built while instances run: each partition's index CONCURRENTLY (no lock against ingestion), then
// attached to the parent's, which is made ON ONLY and is valid once every partition has one; the old
// index goes last. So the migration runs outside a transaction.
//
// Index-only scans need all-visible pages, which only VACUUM marks. By default an insert-only table
// is vacuumed after 1000 + 20% of its rows are inserted: once per ~6M events in a 30M-row month, so
// the last day's pages would rarely be. Each usage partition is now vacuumed every 100k inserts
// (a vacuum after inserts only visits the pages that are not all-visible yet).

export const config = { transaction: false };

const COLUMNS = '(feature_id, created_at) INCLUDE (environment, response_time_ms)';
const NEW = 'ai_usage_logs_feature_time_next';
const VACUUM = { autovacuum_vacuum_insert_threshold: 100_000, autovacuum_vacuum_insert_scale_factor: 0 };
/** As ALTER TABLE … SET takes them, and as pg_class.reloptions lists them. */
const VACUUM_AFTER = Object.entries(VACUUM)
  .map(([k, v]) => `${k} = ${v}`)
  .join(', ');
const VACUUM_OPTIONS = Object.entries(VACUUM).map(([k, v]) => `${k}=${v}`);

async function partitions(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'ai_usage_logs'::regclass ORDER BY 1`,
  );
  return rows.map((r: { relname: string }) => r.relname);
}

// ensure_usage_partitions (20261125100700) is kept as it is, renamed, behind one of the same name that
// then gives every partition without them these settings (new ones, and those moved out of the default).
// One query: its statements run in one implicit transaction, so the name is never missing; and again
// after an interrupted run (the original is renamed only once).
const WRAP = `
  DO $$ BEGIN
    IF to_regprocedure('ensure_usage_partitions_bare(date, integer)') IS NULL THEN
      ALTER FUNCTION ensure_usage_partitions(date, integer) RENAME TO ensure_usage_partitions_bare;
    END IF;
  END $$;
  CREATE OR REPLACE FUNCTION ensure_usage_partitions(first_month date, months integer) RETURNS integer
  LANGUAGE plpgsql AS $$
  DECLARE
    created integer := ensure_usage_partitions_bare(first_month, months);
    part regclass;
  BEGIN
    FOR part IN SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'ai_usage_logs'::regclass
                  AND NOT coalesce(c.reloptions, '{}') @> '{${VACUUM_OPTIONS.join(',')}}' LOOP
      EXECUTE format('ALTER TABLE %s SET (${VACUUM_AFTER})', part);
    END LOOP;
    RETURN created;
  END $$`;

const UNWRAP = `
  DROP FUNCTION ensure_usage_partitions(date, integer);
  ALTER FUNCTION ensure_usage_partitions_bare(date, integer) RENAME TO ensure_usage_partitions`;

/** Replaces ai_usage_logs_feature_time (without a transaction: see above) by an index on `columns`, each partition's named `<partition>_<suffix>`. */
export async function replaceIndex(knex: Knex, columns: string, suffix: string) {
  // Dropping the parent's index of an interrupted run drops its partitions' too.
  await knex.raw(`DROP INDEX IF EXISTS ${NEW}`);
  await knex.raw(`CREATE INDEX ${NEW} ON ONLY ai_usage_logs ${columns}`);
  for (const part of await partitions(knex)) {
    const index = `${part}_${suffix}`;
    // A build interrupted earlier may leave an invalid one, not attached yet: start that partition over.
    await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
    await knex.raw(`CREATE INDEX CONCURRENTLY ${index} ON ${part} ${columns}`);
    await knex.raw(`ALTER INDEX ${NEW} ATTACH PARTITION ${index}`);
  }
  await knex.raw('DROP INDEX ai_usage_logs_feature_time');
  await knex.raw(`ALTER INDEX ${NEW} RENAME TO ai_usage_logs_feature_time`);
}

export async function up(knex: Knex): Promise<void> {
  await replaceIndex(knex, COLUMNS, 'feature_time_covering');
  await knex.raw(WRAP);
  // No month added: only the existing partitions' settings.
  await knex.raw('SELECT ensure_usage_partitions(current_date, 0)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(UNWRAP);
  for (const part of await partitions(knex)) await knex.raw(`ALTER TABLE ${part} RESET (${Object.keys(VACUUM).join(', ')})`);
  await replaceIndex(knex, '(feature_id, created_at)', 'feature_time');
}
