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
const VACUUM_AFTER = 'autovacuum_vacuum_insert_threshold = 100000, autovacuum_vacuum_insert_scale_factor = 0';

async function partitions(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'ai_usage_logs'::regclass ORDER BY 1`,
  );
  return rows.map((r: { relname: string }) => r.relname);
}

/** The partition-creating function of 20261125100700, its new partitions made with `with` (storage parameters) when given. */
const ensurePartitionsFunction = (withClause: string) => `
  CREATE OR REPLACE FUNCTION ensure_usage_partitions(first_month date, months integer) RETURNS integer
  LANGUAGE plpgsql AS $$
  DECLARE
    m date;
    part text;
    created integer := 0;
  BEGIN
    FOR i IN 0 .. months - 1 LOOP
      m := (date_trunc('month', first_month) + make_interval(months => i))::date;
      part := format('ai_usage_logs_%s', to_char(m, 'YYYY_MM'));
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      IF EXISTS (SELECT 1 FROM ai_usage_logs_default
                 WHERE created_at >= m AND created_at < m + interval '1 month') THEN
        EXECUTE format('CREATE TABLE %I (LIKE ai_usage_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ${withClause}', part);
        EXECUTE format('WITH moved AS (DELETE FROM ai_usage_logs_default WHERE created_at >= %L AND created_at < %L RETURNING *)
                        INSERT INTO %I SELECT * FROM moved', m, m + interval '1 month', part);
        EXECUTE format('ALTER TABLE ai_usage_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, m, m + interval '1 month');
      ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF ai_usage_logs FOR VALUES FROM (%L) TO (%L) ${withClause}',
                       part, m, m + interval '1 month');
      END IF;
      created := created + 1;
    END LOOP;
    RETURN created;
  END $$`;

/** Replaces ai_usage_logs_feature_time by an index on `columns`, each partition's named `<partition>_<suffix>`. */
async function replaceIndex(knex: Knex, columns: string, suffix: string) {
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
  for (const part of await partitions(knex)) await knex.raw(`ALTER TABLE ${part} SET (${VACUUM_AFTER})`);
  await knex.raw(ensurePartitionsFunction(`WITH (${VACUUM_AFTER})`));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(ensurePartitionsFunction(''));
  for (const part of await partitions(knex))
    await knex.raw(`ALTER TABLE ${part} RESET (autovacuum_vacuum_insert_threshold, autovacuum_vacuum_insert_scale_factor)`);
  await replaceIndex(knex, '(feature_id, created_at)', 'feature_time');
}
