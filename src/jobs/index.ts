import cron from 'node-cron';
import type { Db } from '../db/knex.ts';
import type { Logger } from '../logger.ts';
import type { Providers } from '../providers/index.ts';
import * as changeRequests from './change-requests.ts';
import * as deployments from './deployments.ts';
import * as partitions from './partitions.ts';
import * as probes from './probes.ts';
import * as restoreStatus from './restore-status.ts';
import * as rollup from './rollup.ts';
import * as testRuns from './test-runs.ts';

const JOBS = { rollup, partitions, deployments, probes, changeRequests, restoreStatus, testRuns };

/** Registers every job with node-cron (no overlapping runs); returns a function that stops them. */
export function startJobs(db: Db, logger: Logger, providers: Providers): () => Promise<void> {
  const tasks = Object.entries(JOBS).map(([name, job]) =>
    cron.schedule(
      job.schedule,
      async () => {
        const started = Date.now();
        try {
          const result = await job.run({ db, now: new Date(), providers });
          logger.debug({ job: name, ms: Date.now() - started, result }, 'job ran');
        } catch (err) {
          logger.error({ err, job: name }, 'job failed');
        }
      },
      { name, noOverlap: true },
    ),
  );
  return async () => {
    await Promise.all(tasks.map((t) => t.stop()));
  };
}
