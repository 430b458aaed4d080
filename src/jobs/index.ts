import cron from 'node-cron';
import type { Db } from '../db/knex.ts';
import type { Telemetry } from '../http/telemetry.ts';
import type { Logger } from '../logger.ts';
import type { Providers } from '../providers/index.ts';
import * as alerts from './alerts.ts';
import * as changeRequests from './change-requests.ts';
import * as deliveries from './deliveries.ts';
import * as deployments from './deployments.ts';
import * as partitions from './partitions.ts';
import * as probes from './probes.ts';
import * as restoreStatus from './restore-status.ts';
import * as retention from './retention.ts';
import * as rollouts from './rollouts.ts';
import * as rollup from './rollup.ts';
import * as testRuns from './test-runs.ts';

const JOBS = { rollup, partitions, deployments, probes, changeRequests, restoreStatus, retention, testRuns, alerts, deliveries, rollouts };

interface JobDeps {
  db: Db;
  logger: Logger;
  providers: Providers;
  telemetry: Telemetry;
  retention: retention.Retention;
}

/** One tick of a job: run as of now, timed (switchboard_job_duration_seconds by outcome), a failure logged and never thrown. */
export async function tick(
  name: string,
  run: (deps: { db: Db; now: Date; providers: Providers; retention: retention.Retention }) => Promise<unknown>,
  deps: JobDeps,
) {
  const started = Date.now();
  const timer = deps.telemetry.jobRuns.startTimer({ job: name });
  try {
    const result = await run({ db: deps.db, now: new Date(), providers: deps.providers, retention: deps.retention });
    timer({ outcome: 'ok' });
    deps.logger.debug({ job: name, ms: Date.now() - started, result }, 'job ran');
  } catch (err) {
    timer({ outcome: 'failed' });
    deps.logger.error({ err, job: name }, 'job failed');
  }
}

/** Registers every job with node-cron (no overlapping runs); returns a function that stops them. */
export function startJobs(deps: JobDeps): () => Promise<void> {
  const tasks = Object.entries(JOBS).map(([name, job]) =>
    cron.schedule(job.schedule, () => tick(name, job.run, deps), { name, noOverlap: true }),
  );
  return async () => {
    await Promise.all(tasks.map((t) => t.stop()));
  };
}
