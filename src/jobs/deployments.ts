import type { Db } from '../db/knex.ts';
import { failInterruptedDeployments } from '../services/deployments.ts';

/** Every minute: deployments a stopped server left in progress are finished as failed. */
export const schedule = '30 * * * * *';

export async function run({ db }: { db: Db; now: Date }) {
  return { interrupted: await failInterruptedDeployments(db) };
}
