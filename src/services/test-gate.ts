import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Check, Environment } from '../domain.ts';
import { url } from '../http/urls.ts';
import type { Providers } from '../providers/index.ts';
import { leaseFrom, releaseRun, workRun } from './test-run-worker.ts';
import { createRun, plannedRun } from './test-runs.ts';

// The eval gate (SPEC §10.2, issue 16): when a feature sets "production changes need a suite pass rate
// ≥ P%", a production change — a model assigned, promoted or rolled back, a prompt activated — runs the
// feature's suite against the candidate (the model and the prompt that would serve) as one more check
// of the deployment pipeline, in the request, as a stored run (purpose 'gate', linked to the
// deployment) with its own page. It refuses below P, with any critical case failing, when the suite
// does not finish within GATE_TIMEOUT_MS, and when the feature has no case (a gate with nothing to
// test would pass anything: add cases, or clear the setting).

/** How long the gate waits for its run; a run still going then is finished by the job, but the change is refused. */
const GATE_TIMEOUT_MS = 60_000;

export interface GateCandidate {
  modelId: string;
  /** The prompt version that would serve with it, if any. */
  promptVersion?: number;
  environment: Environment;
  deploymentId?: string;
  requestedBy: string;
}

const pct = (v: number) => `${Number(v.toFixed(2))}%`;

/** The suite check of a production change, or undefined when the feature sets no gate or the change is not to production. */
export async function suiteGate(db: Db, providers: Providers, feature: FeatureRow, c: GateCandidate): Promise<Check | undefined> {
  const min = feature.min_eval_pass_rate;
  if (min === null || c.environment !== 'production') return undefined;
  const target = { model_id: c.modelId, prompt_version: c.promptVersion };
  const plan = await plannedRun(db, feature, target);
  if (!plan.snapshots.length)
    return {
      name: 'suite',
      ok: false,
      detail: `the feature has no test cases to gate on (minimum ${pct(min)}); add some or clear the setting`,
    };
  const actor = { kind: 'system', label: c.requestedBy } as const;
  const owner = randomUUID();
  const now = new Date();
  const created = await createRun(db, actor, feature, { ...target, environment: c.environment }, plan, {
    purpose: 'gate',
    deploymentId: c.deploymentId,
    claimedBy: { owner, at: now, until: leaseFrom(now) },
  });
  const run = await workRun(db, providers, created, { owner, now, deadline: new Date(now.getTime() + GATE_TIMEOUT_MS) });
  if (run.status === 'running') await releaseRun(db, run.id, owner, new Date());
  const href = url.testRun(feature.name, run.id);
  const verdict = (ok: boolean, detail: string): Check => ({ name: 'suite', ok, detail, href });
  if (run.status !== 'done')
    return verdict(
      false,
      run.status === 'running'
        ? `the suite did not finish within ${GATE_TIMEOUT_MS / 1000} s`
        : `the suite run ${run.status}: ${run.error}`,
    );
  const rate = run.pass_rate ?? 0;
  if (run.critical_failures > 0)
    return verdict(
      false,
      `${run.critical_failures} critical case${run.critical_failures === 1 ? '' : 's'} failed (suite pass rate ${pct(rate)})`,
    );
  if (rate < min) return verdict(false, `suite pass rate ${pct(rate)} is below ${pct(min)}`);
  return verdict(true, `suite pass rate ${pct(rate)}, at least ${pct(min)}, no critical case failed`);
}
