import type { Knex } from 'knex';
import type { Db } from '../db/knex.ts';
import { namedRaw } from '../db/named-statement.ts';
import { rawDroppedBefore } from '../db/retention.ts';
import { foldRowsSql } from './rollup-sql.ts';
import { type FoldedMinute, foldUserSketches } from './unique-users.ts';

/** Advisory lock keys: one rollup at a time; ingestion holds INGEST shared while it inserts. */
export const ROLLUP_LOCK = 0x5b_0001;
export const INGEST_LOCK = 0x5b_0002;
/** The rows a tick folds: past the cursor, up to the watermark. */
const NEW_ROWS = 'l.id > :from AND l.id <= :to';
/** Rows folded per transaction, so one run never holds locks for long. */
const BATCH_IDS = 500_000;
/** The settings planFold makes, as select-list items. */
const FOLD_SETTINGS = "set_config('enable_sort', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)";

export interface RollupRun {
  ran: boolean;
  rows: number;
  cursor: number;
}

/**
 * The highest id that is final: read while holding INGEST_LOCK exclusively, which it gets only when
 * no ingest transaction is open (they hold it shared while they insert). So every row at or below it
 * is committed, and no smaller id can appear later. One statement, so one round trip: the lock is
 * taken before the sequence is read and released when the statement's own transaction ends.
 */
async function watermark(db: Db): Promise<number> {
  const { rows } = await db.raw(
    `SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ai_usage_logs_id_seq) AS id
     FROM (SELECT pg_advisory_xact_lock(?) OFFSET 0) x`,
    [INGEST_LOCK],
  );
  return Number(rows[0].id);
}

/** How far the rollups have read, locked until the transaction ends (the migration makes its one row). */
async function lockedCursor(trx: Db): Promise<number> {
  const row = await trx('rollup_cursors').where({ name: 'usage' }).forUpdate().first('last_id');
  if (!row) throw new Error('rollup_cursors has no usage row: run the migrations');
  return row.last_id;
}

/**
 * The cursor, locked, when this transaction gets ROLLUP_LOCK without waiting, and the transaction
 * planned for the fold (one round trip: the cursor row is read, and locked, only once the lock is
 * held); undefined when another instance has it.
 */
async function tryLockedCursor(trx: Db): Promise<number | undefined> {
  const { rows } = await trx.raw(
    `SELECT ok, CASE WHEN ok THEN (SELECT last_id FROM rollup_cursors WHERE name = 'usage' FOR UPDATE) END AS last_id, ${FOLD_SETTINGS}
     FROM (SELECT pg_try_advisory_xact_lock(?) AS ok OFFSET 0) x`,
    [ROLLUP_LOCK],
  );
  if (!rows[0].ok) return undefined;
  if (rows[0].last_id === null) throw new Error('rollup_cursors has no usage row: run the migrations');
  return Number(rows[0].last_id);
}

/**
 * Folds the rows inserted since the last run into the rollups, by insertion order (id), and moves
 * the cursor in the same transaction. Idempotent; when another instance holds the lock it returns
 * at once with ran: false, so several app instances run each tick once.
 */
export async function runRollup({ db }: { db: Db }): Promise<RollupRun> {
  let rows = 0;
  for (;;) {
    const final = await watermark(db);
    const step = await db.transaction(async (trx) => {
      const from = await tryLockedCursor(trx);
      if (from === undefined) return undefined;
      const to = Math.min(final, from + BATCH_IDS);
      if (to <= from) return { rows: 0, cursor: from, more: false };
      const folded = await fold(trx, NEW_ROWS, { from, to }, { prepared: true, moveCursor: true });
      return { rows: folded, cursor: to, more: to === from + BATCH_IDS };
    });
    if (!step) return { ran: false, rows, cursor: -1 };
    rows += step.rows;
    if (!step.more) return { ran: true, rows, cursor: step.cursor };
  }
}

/**
 * Plans the rest of the transaction for the fold, in one round trip:
 * - grouping by hashing. The planner sizes a hash aggregate by its estimate of the groups times a
 *   guess of each group's state (string_agg and numeric sums keep theirs in memory it cannot size), so
 *   over a minute of traffic it expects far more than work_mem and sorts the 60k raw rows instead: 4–5×
 *   slower, when the groups really number a few hundred and take ~1.5 MB. A hash aggregate still
 *   spills to disk past work_mem, so a large catch-up batch stays bounded.
 * - prepared statements with their generic plan: planning the fold statement (its CTEs over every
 *   partition) took ~5 ms of each tick, as long as folding a third of a minute of traffic. The tick's
 *   rows are chosen by id (no partition to prune) and a generic plan still groups by hashing, so one
 *   plan per connection serves every tick.
 */
export async function planFold(trx: Db): Promise<void> {
  await trx.raw(`SELECT ${FOLD_SETTINGS}`);
}

/**
 * Folds the raw rows chosen by `where` into every rollup, unique-user sketches included; returns how
 * many. `prepared`: as a named statement of the connection (the tick's, whose text never changes).
 * `moveCursor`: the same statement moves the cursor to :to. `fresh`: see foldUserSketches.
 */
async function fold(
  trx: Db,
  where: string,
  bindings: Knex.ValueDict,
  { fresh = false, prepared = false, moveCursor = false }: { fresh?: boolean; prepared?: boolean; moveCursor?: boolean } = {},
): Promise<number> {
  const sql = foldRowsSql(where, moveCursor ? ':to' : undefined);
  const { rows } = await (prepared ? namedRaw(trx, sql, bindings) : trx.raw(sql, bindings));
  await foldUserSketches(trx, rows as FoldedMinute[], fresh);
  return (rows as FoldedMinute[]).reduce((n, r) => n + r.rows, 0);
}

/**
 * Rebuilds the rollups from raw rows. Whole: everything committed so far (from where retention
 * stopped keeping raw rows, if it did), and the cursor moves there. A range: the whole UTC days
 * covering [from, to), from the rows already folded (rows past the cursor are left to the next run,
 * as always); refused when it reaches before what retention kept. Returns the rows folded.
 */
export async function rebuildRollups(db: Db, range?: { from: Date; to: Date }): Promise<number> {
  const final = await watermark(db);
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [ROLLUP_LOCK]);
    const cursor = await lockedCursor(trx);
    const kept = await rawDroppedBefore(trx);
    if (!range) {
      // After retention dropped the raw rows before `kept`, their rollups stay and only the rest is
      // rebuilt (late events from before it not folded yet are folded now, once).
      if (kept) await forgetRollupsFrom(trx, kept);
      else
        await trx.raw(
          'TRUNCATE usage_rollup_minute, usage_rollup_hour, usage_rollup_day, usage_spend_month, usage_minute_counts, usage_user_sketches',
        );
      const where = kept ? 'l.id <= :final AND (l.created_at >= :kept OR l.id > :cursor)' : 'l.id <= :final';
      const bindings = { final, ...(kept && { kept, cursor }) };
      const rows = await fold(trx, where, bindings, { fresh: !kept });
      await trx('rollup_cursors').where({ name: 'usage' }).update({ last_id: final, updated_at: trx.fn.now() });
      return rows;
    }
    if (kept && range.from < kept)
      throw new Error(
        `Raw usage before ${kept.toISOString()} was dropped by retention: its rollups cannot be rebuilt; choose --from on or after it`,
      );
    // Whole UTC days, so the day rollup is rebuilt whole too.
    const bounds = {
      from: new Date(Math.floor(range.from.getTime() / 86_400_000) * 86_400_000),
      to: new Date(Math.ceil(range.to.getTime() / 86_400_000) * 86_400_000),
      cursor,
    };
    for (const table of ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day']) {
      await trx(table).where('bucket', '>=', bounds.from).andWhere('bucket', '<', bounds.to).delete();
    }
    await trx('usage_minute_counts').where('hour', '>=', bounds.from).andWhere('hour', '<', bounds.to).delete();
    // Every grain divides a day, so the sketches of these days go whole too.
    await trx('usage_user_sketches').where('bucket', '>=', bounds.from).andWhere('bucket', '<', bounds.to).delete();
    const inRange = 'l.id <= :cursor AND l.created_at >= :from AND l.created_at < :to';
    const rows = await fold(trx, inRange, bounds, { fresh: true });
    await respendMonths(trx, bounds.from, bounds.to);
    return rows;
  });
}

/**
 * Spend per month over the months that [from, to) touches, again from their day rows: a range rebuild
 * refolds whole days, which the month rows already held.
 */
async function respendMonths(trx: Db, from: Date, to: Date) {
  const bounds = { from: from.toISOString(), to: to.toISOString() };
  const months = `bucket >= date_trunc('month', :from::timestamptz, 'UTC') AND bucket < date_trunc('month', :to::timestamptz - interval '1 microsecond', 'UTC') + interval '1 month'`;
  await trx.raw(`DELETE FROM usage_spend_month WHERE ${months}`, bounds);
  await trx.raw(
    `INSERT INTO usage_spend_month (bucket, feature_id, model_id, provider_id, environment, cost_usd)
     SELECT date_trunc('month', bucket, 'UTC'), feature_id, model_id, provider_id, environment, sum(cost_usd)
     FROM usage_rollup_day WHERE ${months} GROUP BY 1, 2, 3, 4, 5`,
    bounds,
  );
}

/** Deletes every rollup from `instant` (a UTC month boundary) on, unique users included, so the raw rows from there can be folded afresh. */
async function forgetRollupsFrom(trx: Db, instant: Date) {
  for (const table of ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day', 'usage_spend_month'] as const)
    await trx(table).where('bucket', '>=', instant).delete();
  await trx('usage_minute_counts').where('hour', '>=', instant).delete();
  await trx('usage_user_sketches').where('bucket', '>=', instant).delete();
}
