import type { Db } from '../db/knex.ts';
import { syncDefaultRules } from '../services/alert-defaults.ts';
import { evaluateMinute } from '../services/alert-evaluation.ts';
import { fireBudgetMarks } from '../services/budget-marks.ts';

const LOCK = 0x5b_0017;
const MINUTE = 60_000;
/** After a stop, the minutes missed are evaluated up to this many; older ones are skipped. */
export const MAX_CATCH_UP_MIN = 15;

/** Every minute, a few seconds in, so the minute just ended is in. */
export const schedule = '5 * * * * *';

const idle = { ran: true, minutes: 0, transitions: 0, notices: 0, budgetMarks: 0 };

/**
 * Evaluates each whole minute once, as of that minute, from the one after the last evaluated through
 * the current one (at most MAX_CATCH_UP_MIN). The advisory lock makes one instance per tick do it
 * (another returns ran: false); it is taken in a transaction of its own, so the evaluation's
 * repeatable-read snapshot (rollup cursor and rollups agreeing) begins after it is granted and sees
 * what an instance that ran this tick just before committed.
 */
export async function run({ db, now }: { db: Db; now: Date }) {
  return db.transaction(async (lockHolder) => {
    const { rows } = await lockHolder.raw('SELECT pg_try_advisory_xact_lock(?) AS ok', [LOCK]);
    if (!rows[0].ok) return { ...idle, ran: false };
    return db.transaction((trx) => evaluateTick(db, trx, now), { isolationLevel: 'repeatable read' });
  });
}

async function evaluateTick(db: Db, trx: Db, now: Date) {
  const target = Math.floor(now.getTime() / MINUTE) * MINUTE;
  const tick = await trx('alert_ticks').where({ name: 'alerts' }).first('evaluated_to');
  const first = tick ? Math.max(tick.evaluated_to.getTime() + MINUTE, target - (MAX_CATCH_UP_MIN - 1) * MINUTE) : target;
  const total = { ...idle };
  if (first > target) return total;
  await syncDefaultRules(trx);
  const cursor = Number((await trx('rollup_cursors').where({ name: 'usage' }).first('last_id'))?.last_id ?? 0);
  for (let t = first; t <= target; t += MINUTE) {
    const r = await evaluateMinute(db, trx, cursor, new Date(t));
    total.minutes++;
    total.transitions += r.transitions;
    total.notices += r.notices;
  }
  // Marks fire once a month: the latest minute is enough.
  total.budgetMarks = await fireBudgetMarks(trx, cursor, new Date(target));
  await trx('alert_ticks')
    .insert({ name: 'alerts', evaluated_to: new Date(target) })
    .onConflict('name')
    .merge();
  return total;
}
