import type { Db } from '../db/knex.ts';
import { dropExpiredUsage, pruneEventKeys, type RetentionRun } from '../db/retention.ts';

const LOCK = 0x5b_0030;

/** How long raw usage and idempotency keys are kept (RAW_RETENTION_DAYS, EVENT_KEY_RETENTION_DAYS). */
export interface Retention {
  rawDays: number;
  keyDays: number;
}

/** Daily: raw usage past its window dropped by whole partitions, old idempotency keys pruned — once across instances. */
export const schedule = '41 4 * * *';

export async function run({
  db,
  now,
  retention,
}: {
  db: Db;
  now: Date;
  retention: Retention;
}): Promise<{ ran: boolean } & Partial<RetentionRun>> {
  // A session-level lock: the work spans several transactions (one per partition, batches of keys).
  return db.transaction(async (lockHolder) => {
    const { rows } = await lockHolder.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ran: false };
    const usage = await dropExpiredUsage(db, now, retention.rawDays);
    return { ran: true, ...usage, keys: await pruneEventKeys(db, now, retention.keyDays) };
  });
}
