import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import type { Environment } from '../domain.ts';
import { Refusal, refusalOf } from '../http/errors.ts';
import { type Actor, recordAudit } from './audit.ts';
import { type PlaygroundInput, type Prices, playgroundInputOf, pricesOf, requestOf, resolveTarget, targetOfForm } from './playground.ts';
import { estimatedTokens } from './prompt-template.ts';
import type { Verdict } from './test-assertions.ts';

// Suite runs (SPEC §10.2, issue 16): a run is created queued with a snapshot of the feature's cases
// (one pending result per case), an estimate and a hard cost cap; src/services/test-run-worker.ts
// works it. Its calls are recorded in its results only: no production figure or budget reads them.

export type TestRunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export type TestRunPurpose = 'manual' | 'gate';

/** One attempt of a case: what the call produced and each assertion's verdict. */
export interface TestAttempt {
  ok: boolean;
  error: string | null;
  output: string | null;
  latency_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  verdicts: (Verdict & { assertion: string })[];
  passed: boolean;
}

export type TestRunRow = Row<'test_runs'>;
export type TestCaseSnapshot = Row<'test_run_results'>['case_snapshot'];

/** What a run is aimed at: an environment (its model and active prompt) or a model, with a prompt version or none. */
type RunTarget = Pick<PlaygroundInput, 'environment' | 'model_id' | 'prompt_version'>;

/** Output tokens assumed per call when the prompt version sets no max_tokens (the estimate's ceiling per answer). */
const ASSUMED_OUTPUT_TOKENS = 256;
/** The cost cap when none is given: this many times the estimate. */
const DEFAULT_CAP_FACTOR = 5;
/** A cap is never below this, so a suite of free calls can still run. */
const MIN_CAP_USD = 0.01;

type Version = Parameters<typeof requestOf>[0];

/** The estimated cost of one call of a case: its input's length (4 characters a token) and the version's max_tokens (else 256) at the model's prices. */
export function callEstimate(snapshot: TestCaseSnapshot, version: Version, prices: Prices, embedding: boolean) {
  let text: string;
  try {
    const request = requestOf(version, snapshot.input);
    text = request.messages ? request.messages.map((m) => m.content).join('\n') : request.input;
  } catch (err) {
    refusalOf(err);
    return 0; // the case cannot be sent (a variable without a value): no call is made
  }
  const out = embedding ? 0 : (version?.params.max_tokens ?? ASSUMED_OUTPUT_TOKENS);
  return (estimatedTokens(text) * Number(prices.input_price_per_1k) + out * Number(prices.output_price_per_1k)) / 1000;
}

const snapshotOf = (c: Row<'test_cases'>): TestCaseSnapshot => ({
  name: c.name,
  input: c.input,
  assertions: c.assertions,
  critical: c.critical,
  repeats: c.repeats,
  pass_k: c.pass_k,
});

const roundUsd = (v: number) => Math.round(v * 1e6) / 1e6;

/** The run a target would make now: the model and version, the cases' snapshots and the estimate (cases × repeats × estimated call cost). */
export async function plannedRun(db: Db, feature: FeatureRow, target: RunTarget) {
  const { model, version } = await resolveTarget(db, feature, target);
  const cases = await db('test_cases').where({ feature_id: feature.id }).whereNull('deleted_at').orderBy('created_at').orderBy('id');
  const prices = await pricesOf(db, model.id);
  const snapshots = cases.map((c) => ({ id: c.id, snapshot: snapshotOf(c) }));
  const estimate = snapshots.reduce(
    (sum, c) => sum + c.snapshot.repeats * callEstimate(c.snapshot, version, prices, model.model_type === 'embedding'),
    0,
  );
  return {
    model,
    version,
    snapshots,
    estimate: roundUsd(estimate),
    defaultCap: Math.max(MIN_CAP_USD, roundUsd(estimate * DEFAULT_CAP_FACTOR)),
  };
}
type PlannedRun = Awaited<ReturnType<typeof plannedRun>>;

export interface RunOptions {
  purpose?: TestRunPurpose;
  deploymentId?: string;
  costCapUsd?: number;
  /** Created already claimed (the gate works its run at once): no job can take it first. */
  claimedBy?: { owner: string; at: Date; until: Date };
}

/** Creates a run, queued, with one pending result per case (in one transaction, audited). */
export async function createRun(db: Db, actor: Actor, feature: FeatureRow, target: RunTarget, plan: PlannedRun, o: RunOptions = {}) {
  return db.transaction(async (trx) => {
    const [run] = await trx('test_runs')
      .insert({
        feature_id: feature.id,
        model_id: plan.model.id,
        prompt_version_id: plan.version?.id ?? null,
        environment: (target.environment ?? null) as Environment | null,
        purpose: o.purpose ?? 'manual',
        deployment_id: o.deploymentId ?? null,
        estimate_usd: plan.estimate,
        cost_cap_usd: o.costCapUsd ?? plan.defaultCap,
        cases_total: plan.snapshots.length,
        created_by: actor.label,
        ...(o.claimedBy && {
          status: 'running' as const,
          lease_owner: o.claimedBy.owner,
          lease_until: o.claimedBy.until,
          started_at: o.claimedBy.at,
        }),
      })
      .returning('*');
    if (plan.snapshots.length)
      await trx('test_run_results').insert(
        plan.snapshots.map((c, position) => ({ run_id: run.id, position, case_id: c.id, case_snapshot: JSON.stringify(c.snapshot) })),
      );
    await recordAudit(trx, actor, {
      action: 'test_run.created',
      entityType: 'feature',
      entityId: feature.id,
      after: { run_id: run.id, model: plan.model.name, prompt_version: plan.version?.version ?? null, cost_cap_usd: run.cost_cap_usd },
    });
    return run;
  });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const RUN_FIELDS = ['environment', 'model_id', 'prompt_version', 'cost_cap_usd'];

/** A run's request (the JSON API's body, or the form's fields made into it): the target as for the playground, and an optional cost cap; unknown fields refused by name. */
export function runInputOf(body: unknown): { target: RunTarget; costCapUsd?: number } {
  const b = isRecord(body) ? body : {};
  const errors: Record<string, string> = {};
  for (const k of Object.keys(b)) if (!RUN_FIELDS.includes(k)) errors[k] = 'is not a field of a test run';
  let costCapUsd: number | undefined;
  if (b.cost_cap_usd !== undefined && b.cost_cap_usd !== '' && b.cost_cap_usd !== null) {
    const n = Number(b.cost_cap_usd);
    if (Number.isFinite(n) && n > 0 && n <= 1_000_000) costCapUsd = n;
    else errors.cost_cap_usd = 'must be an amount in USD above 0';
  }
  let target: RunTarget = {};
  try {
    target = playgroundInputOf({ environment: b.environment, model_id: b.model_id, prompt_version: b.prompt_version });
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    Object.assign(errors, err.fields);
  }
  if (Object.keys(errors).length) throw new Refusal(422, 'The run is not valid', errors);
  return { target, costCapUsd };
}

/** The start form's fields as a run's request: the target `env:<environment>` or `model:<id>`, the prompt version, the cap. */
export const runBodyOfForm = (values: Record<string, unknown>) => ({
  ...targetOfForm(values.target),
  prompt_version: values.prompt_version,
  cost_cap_usd: values.cost_cap_usd,
});

/** Starts a run from a request: planned (refused with 422 by field when the target is not valid), then created queued. */
export async function startRun(db: Db, actor: Actor, feature: FeatureRow, body: unknown) {
  const { target, costCapUsd } = runInputOf(body);
  const plan = await plannedRun(db, feature, target);
  if (!plan.snapshots.length) throw new Refusal(422, 'The feature has no test cases to run', { target: 'has no test cases to run' });
  return { run: await createRun(db, actor, feature, target, plan, { costCapUsd }), plan };
}

/** Cancels a queued or running run (the worker stops before its next case); false when it had already finished. */
export async function cancelRun(db: Db, actor: Actor, run: TestRunRow): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('test_runs')
      .where({ id: run.id })
      .whereIn('status', ['queued', 'running'])
      .update({
        status: 'cancelled',
        error: `cancelled by ${actor.label}`,
        finished_at: trx.raw('clock_timestamp()'),
        lease_owner: null,
        lease_until: null,
      });
    if (n)
      await recordAudit(trx, actor, {
        action: 'test_run.cancelled',
        entityType: 'feature',
        entityId: run.feature_id,
        after: { run_id: run.id },
      });
    return n > 0;
  });
}
