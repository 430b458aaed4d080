import type { Db } from '../db/knex.ts';
import { restoreDueFeatures } from '../services/feature-settings.ts';

const LOCK = 0x5b_0014;

/** Every minute: features in maintenance or inactive whose automatic restore time has come become active again. */
export const schedule = '15 * * * * *';

/** Once per tick across all instances (the advisory lock); a second run finds nothing due. */
export async function run({ db, now }: { db: Db; now: Date }): Promise<{ ran: boolean; restored: number }> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ran: false, restored: 0 };
    return { ran: true, restored: await restoreDueFeatures(trx, now) };
  });
}
