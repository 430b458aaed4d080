import type { Db } from '../db/knex.ts';
import { expireChangeRequests } from '../services/change-requests.ts';

/** Every minute: change requests not decided in time expire (each row once, whichever instance runs first). */
export const schedule = '45 * * * * *';

export async function run({ db, now }: { db: Db; now: Date }) {
  return { expired: await expireChangeRequests(db, now) };
}
