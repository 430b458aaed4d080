import type { Db } from '../db/knex.ts';
import { guardRollout } from '../services/rollout-tick.ts';
import { forgetActiveRollouts } from '../services/rollout-variant.ts';

const LOCK = 0x5b_0018;

/** Every minute: the guard checks each running rollout against its stable arm — once across instances. */
export const schedule = '* * * * *';

export async function run({ db, now }: { db: Db; now: Date }): Promise<{ ran: boolean; actions: string[] }> {
  const result = await db.transaction(async (trx) => {
    const { rows } = await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ran: false, actions: [] };
    const running = await trx('rollouts').where({ status: 'running' }).forUpdate().skipLocked();
    const actions: string[] = [];
    for (const rollout of running) {
      const action = await guardRollout(trx, rollout, now);
      if (action) actions.push(`${rollout.id}: ${action}`);
    }
    return { ran: true, actions };
  });
  forgetActiveRollouts(); // this instance sees a pause or rollback at once (rollout-variant.ts)
  return result;
}
