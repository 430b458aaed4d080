import type { Db } from '../db/knex.ts';
import { runRollup } from '../metrics/rollup.ts';

/** Every minute: fold new usage rows into the rollups (advisory-locked, idempotent). */
export const schedule = '* * * * *';

export const run = ({ db }: { db: Db; now: Date }) => runRollup({ db });
