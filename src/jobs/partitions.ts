import type { Db } from '../db/knex.ts';
import { ensureUsagePartitions } from '../db/partitions.ts';

const LOCK = 0x5b_0003;

/** Daily: create the coming months' usage partitions, once across all instances. */
export const schedule = '17 3 * * *';

export async function run({ db, now }: { db: Db; now: Date }): Promise<{ ran: boolean; created: number }> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ran: false, created: 0 };
    return { ran: true, created: await ensureUsagePartitions(trx, now) };
  });
}
