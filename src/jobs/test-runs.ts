import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import type { Providers } from '../providers/index.ts';
import { claimRun, releaseRun, workRun } from '../services/test-run-worker.ts';

/** Every 3 seconds: one suite run claimed (queued, or its lease lapsed) and worked, a share of its cases at a time. */
export const schedule = '*/3 * * * * *';

/** The cases one tick works before it lets go of the run (claimable again at once, by any instance). */
const CASES_PER_TICK = 40;

export async function run({ db, now, providers }: { db: Db; now: Date; providers: Providers }) {
  const owner = randomUUID();
  const claimed = await claimRun(db, { now, owner });
  if (!claimed) return { run: null };
  const after = await workRun(db, providers, claimed, { owner, now, maxCases: CASES_PER_TICK });
  if (after.status === 'running') await releaseRun(db, after.id, owner, now);
  return { run: claimed.id, status: after.status, done: after.cases_done, total: after.cases_total };
}
