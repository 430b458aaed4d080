import type { Db } from './knex.ts';

// Retention (issue 19, SPEC §10.6): raw usage past RAW_RETENTION_DAYS goes by whole monthly
// partitions (a DROP, not a DELETE: no bloat, no vacuum debt); the rollups keep every figure, and
// every range the console shows (≤ 30 days) stays exact because the window is at least 35 days.
// A partition is dropped only once the rollups have folded all of its rows.

const DAY_MS = 86_400_000;
const LOCK_TIMEOUT = '3s';
/** The least raw retention: the longest range shown (30 days) plus margin, so every shown figure stays exact. */
export const MIN_RAW_RETENTION_DAYS = 35;

export interface RetentionRun {
  /** Monthly partitions dropped, by name. */
  dropped: string[];
  /** A partition past the window not dropped yet: rows the rollups have not folded, or a busy table (a later run drops it). */
  waiting: string[];
  /** Rows of the default partition (events outside every monthly partition) deleted past the window. */
  strays: number;
  /** Idempotency keys pruned. */
  keys: number;
}

interface Partition {
  name: string;
  from: Date;
  to: Date;
}

/** The monthly partitions of ai_usage_logs with their bounds, oldest first (the default partition aside). */
async function monthlyPartitions(db: Db): Promise<Partition[]> {
  const { rows } = await db.raw(`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ai_usage_logs'::regclass AND c.relname <> 'ai_usage_logs_default'
    ORDER BY 1`);
  return (rows as { name: string; bound: string }[]).flatMap((r) => {
    const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(r.bound);
    return m ? [{ name: r.name, from: new Date(m[1]), to: new Date(m[2]) }] : [];
  });
}

/**
 * Drops the raw partitions wholly older than `now - rawDays` whose rows are all folded, deletes the
 * default partition's folded rows before the same instant, and records how far raw data is gone.
 * Call under the retention job's lock (one instance at a time).
 */
export async function dropExpiredUsage(db: Db, now: Date, rawDays: number): Promise<Omit<RetentionRun, 'keys'>> {
  if (rawDays < MIN_RAW_RETENTION_DAYS) throw new Error(`raw retention must be at least ${MIN_RAW_RETENTION_DAYS} days`);
  const cutoff = new Date(now.getTime() - rawDays * DAY_MS);
  const run: Omit<RetentionRun, 'keys'> = { dropped: [], waiting: [], strays: 0 };
  for (const p of await monthlyPartitions(db)) {
    if (p.to > cutoff) break;
    const done = await db.transaction(async (trx) => {
      const folded = await foldedThrough(trx);
      const { rows } = await trx.raw('SELECT coalesce(max(id), 0) AS id FROM ??', [p.name]);
      if (Number(rows[0].id) > folded) return false;
      // Detaching locks the parent table for a moment: never queue ingestion behind a long query.
      await trx.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      try {
        await trx.transaction((savepoint) => savepoint.raw('ALTER TABLE ai_usage_logs DETACH PARTITION ??', [p.name]));
      } catch (err) {
        if ((err as { code?: string }).code === '55P03') return false; // lock_not_available: the next run tries again
        throw err;
      }
      await trx.raw('DROP TABLE ??', [p.name]);
      await trx('usage_retention').where({ id: true }).update({ dropped_before: p.to, updated_at: trx.fn.now() });
      return true;
    });
    if (!done) {
      // Oldest first, and no gap: what is dropped is always everything before one month boundary.
      run.waiting.push(p.name);
      break;
    }
    run.dropped.push(p.name);
  }
  // Events outside every monthly partition wait in the default one: those before the boundary go too.
  const before = await rawDroppedBefore(db);
  if (before) {
    run.strays = await db.transaction(async (trx) => {
      const { rowCount } = await trx.raw('DELETE FROM ai_usage_logs_default WHERE created_at < ? AND id <= ?', [
        before,
        await foldedThrough(trx),
      ]);
      return rowCount ?? 0;
    });
  }
  return run;
}

/** The last raw id the rollups have folded, locked against a rollup run until the transaction ends. */
async function foldedThrough(trx: Db): Promise<number> {
  return Number((await trx('rollup_cursors').where({ name: 'usage' }).forUpdate().first('last_id'))?.last_id ?? 0);
}

/** The instant before which raw usage has been dropped, if any: rollups before it cannot be rebuilt. */
export async function rawDroppedBefore(db: Db): Promise<Date | null> {
  return (await db('usage_retention').first('dropped_before'))?.dropped_before ?? null;
}

/** Deletes the idempotency keys received more than `keyDays` ago, in batches; returns how many. */
export async function pruneEventKeys(db: Db, now: Date, keyDays: number): Promise<number> {
  const before = new Date(now.getTime() - keyDays * DAY_MS);
  let total = 0;
  for (;;) {
    const { rowCount } = await db.raw(
      `DELETE FROM ai_usage_event_keys WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM ai_usage_event_keys WHERE received_at < ? LIMIT 50000))`,
      [before],
    );
    total += rowCount ?? 0;
    if (!rowCount) return total;
  }
}
