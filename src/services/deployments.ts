import { z } from 'zod';
import { type ColumnMap, columns, MODEL_IDENTITY, type ModelJoin, type Selected } from '../db/columns.ts';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import { type Check, type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { fieldErrors } from '../http/validation.ts';
import type { ProviderAdapter, SmokePrompt } from '../providers/adapter.ts';
import { type Providers, UnreadableKeyError } from '../providers/index.ts';
import { type Actor, recordAudit } from './audit.ts';
import { type Candidate, deployability, refusal, smokeCheck } from './deployability.ts';
import { suiteGate } from './test-gate.ts';

export const deployRequestSchema = z.object({
  model_id: z.uuid({ message: 'must be the id of a model' }),
  environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` }),
});

/** A model with what the pipeline needs of its provider (the sealed key included: the adapter opens it). */
const MODEL_FOR_DEPLOY = {
  ...MODEL_IDENTITY,
  provider_id: 'm.provider_id',
  provider_display_name: 'p.display_name',
  provider_status: 'p.status',
  provider_kind: 'p.kind',
  base_url: 'p.base_url',
  api_key_ciphertext: 'p.api_key_ciphertext',
  archived_at: 'm.archived_at',
  provider_archived_at: 'p.archived_at',
  context_window: 'm.context_window',
} as const satisfies ColumnMap<ModelJoin>;
export type ModelForDeploy = Selected<ModelJoin, typeof MODEL_FOR_DEPLOY>;

export interface DeployOutcome {
  ok: boolean;
  /** 201 when the assignment switched, 422 when a check refused it, 409 when another change won a race. */
  status: 201 | 409 | 422;
  deployment: Row<'deployments'>;
  /** The assignment made, when it switched. */
  assignment?: Row<'feature_model_assignments'>;
}

export async function loadModel(db: Db, id: string, lock = false): Promise<ModelForDeploy | undefined> {
  const q = db('ai_models as m').join('ai_providers as p', 'p.id', 'm.provider_id').where('m.id', id).first(columns(MODEL_FOR_DEPLOY));
  // Shared locks on the model and its provider: an edit of either (which locks them for update)
  // waits for the switch, or the switch sees the edit.
  return lock ? q.forShare() : q;
}

const activeModelId = async (db: Db, featureId: string, environment: Environment): Promise<string | null> =>
  (await activeAssignments(db, { featureId, environment })).at(0)?.model_id ?? null;

/**
 * A change as deploy() would start it, refused now (422) when it breaks a rule known before any smoke
 * request: a change request is filed only for a change that could pass.
 */
export async function plannedChange(db: Db, feature: FeatureRow, input: unknown) {
  const parsed = deployRequestSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'Invalid deployment', fieldErrors(parsed.error));
  const { model_id, environment } = parsed.data;
  const model = await loadModel(db, model_id);
  if (!model) throw new Refusal(422, 'Invalid deployment', { model_id: 'is not a known model' });
  const previous = await activeModelId(db, feature.id, environment);
  const refused = refusal(feature, candidateOf(model), environment, previous);
  if (refused) throw new Refusal(422, refused.detail, { model_id: refused.detail });
  return { model_id, environment, previous };
}

/** The model as the deployability rules see it. */
const candidateOf = (model: ModelForDeploy): Candidate => ({ ...model, provider_has_key: model.api_key_ciphertext !== null });

/**
 * Runs the deployment pipeline (SPEC §7): a deployment recorded in_progress, then the checks in order
 * (model fits, provider usable, a live smoke request through the adapter), each stored; only when all
 * pass does the active assignment switch, in one transaction that locks the feature, so concurrent
 * changes to it run one after the other and a change planned against an assignment that has since
 * moved is refused (409) instead of applied blindly. A refusal leaves the assignment as it was.
 */
export async function deploy(
  db: Db,
  providers: Providers,
  actor: Actor,
  feature: FeatureRow,
  input: unknown,
  kind: DeploymentKind = 'assign',
): Promise<DeployOutcome> {
  const parsed = deployRequestSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'Invalid deployment', fieldErrors(parsed.error));
  const { model_id, environment } = parsed.data;
  const model = await loadModel(db, model_id);
  if (!model) throw new Refusal(422, 'Invalid deployment', { model_id: 'is not a known model' });

  const previous = await activeModelId(db, feature.id, environment);
  const [deployment] = await db('deployments')
    .insert({ feature_id: feature.id, model_id, previous_model_id: previous, environment, kind, requested_by: actor.label })
    .returning('*');
  return neverInProgress(db, deployment, () =>
    runChecksAndSwitch(db, providers, actor, { feature, model, environment, previous, deployment, kind }),
  );
}

/**
 * Runs a started deployment's pipeline; never leaves it in progress: on an unexpected error it is
 * marked failed (if the database lets us), then the original error reaches the error handler.
 */
export async function neverInProgress<T>(db: Db, deployment: Row<'deployments'>, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    await db('deployments')
      .where({ id: deployment.id, status: 'in_progress' })
      .update({ status: 'failed', error: 'stopped by an unexpected error; nothing was changed', finished_at: db.raw('clock_timestamp()') })
      .catch(() => undefined);
    throw err;
  }
}

interface Plan {
  feature: FeatureRow;
  model: ModelForDeploy;
  environment: Environment;
  /** The model serving the environment when the deployment started. */
  previous: string | null;
  deployment: Row<'deployments'>;
  kind: DeploymentKind;
}

async function runChecksAndSwitch(db: Db, providers: Providers, actor: Actor, plan: Plan): Promise<DeployOutcome> {
  const checks = await runChecks(db, providers, plan);
  const failed = checks.find((c) => !c.ok);
  if (failed) return finishRefused(db, actor, plan.deployment, checks, failed.detail, 422);
  return db.transaction((trx) => switchAssignment(trx, actor, plan, checks));
}

/** The checks in order, stored as they pass (the deployment's page shows them). */
const runChecks = (db: Db, providers: Providers, { feature, model, environment, previous, deployment }: Plan): Promise<Check[]> =>
  candidateChecks(
    db,
    providers,
    { feature, model, environment, previous },
    { requestedBy: deployment.requested_by, deploymentId: deployment.id },
    (checks) =>
      db('deployments')
        .where({ id: deployment.id })
        .update({ checks: JSON.stringify(checks) }),
  );

/**
 * The pipeline's checks of a candidate model, in order: no network, the provider's adapter, a live smoke
 * request, the eval gate. A deployment and a rollout's start (issue 18) both run them; `noted` sees the
 * checks made before any network call.
 */
export async function candidateChecks(
  db: Db,
  providers: Providers,
  { feature, model, environment, previous }: Pick<Plan, 'feature' | 'model' | 'environment' | 'previous'>,
  by: { requestedBy: string; deploymentId?: string; promptVersion?: number },
  noted: (checks: Check[]) => Promise<unknown> = async () => undefined,
): Promise<Check[]> {
  const checks = deployability(feature, candidateOf(model), environment, previous);
  const opened = checks.every((c) => c.ok) ? await openAdapter(providers, model) : undefined;
  if (opened && 'check' in opened) checks[checks.length - 1] = opened.check;
  await noted(checks);
  if (opened && 'adapter' in opened) checks.push(await smokeRequest(db, opened.adapter, model));
  if (checks.every((c) => c.ok)) {
    // The eval gate tries the model with the prompt that would serve with it (by.promptVersion: a rollout's candidate prompt).
    const prompt = await activePrompt(db, feature.id, environment);
    const gate = await suiteGate(db, providers, feature, { modelId: model.id, promptVersion: prompt?.version, environment, ...by });
    if (gate) checks.push(gate);
  }
  return checks;
}

/** The model's provider adapter, or the provider check that says why there is none. */
export async function openAdapter(providers: Providers, model: ModelForDeploy): Promise<{ adapter: ProviderAdapter } | { check: Check }> {
  try {
    return {
      adapter: await providers.adapterFor({
        id: model.provider_id,
        kind: model.provider_kind,
        base_url: model.base_url,
        api_key_ciphertext: model.api_key_ciphertext,
      }),
    };
  } catch (err) {
    // A key that no longer decrypts (SECRETS_KEY changed, or the row was altered) is the provider's problem, said as such.
    const detail =
      err instanceof UnreadableKeyError ? 'has an API key that cannot be read; enter it again' : 'cannot be reached from here right now';
    return { check: { name: 'provider', ok: false, detail: `${model.provider_display_name} ${detail}` } };
  }
}

/** The live smoke request (of a rendered prompt, when given), recorded as the model's health check too. */
export async function smokeRequest(db: Db, adapter: ProviderAdapter, model: ModelForDeploy, prompt?: SmokePrompt): Promise<Check> {
  const smoke = await adapter.smoke(model.name, model.model_type, prompt);
  await db('health_checks').insert({
    provider_id: model.provider_id,
    model_id: model.id,
    kind: 'smoke',
    status: smoke.ok ? 'ok' : 'error',
    latency_ms: smoke.latencyMs,
    error: smoke.error ?? null,
  });
  return smokeCheck(smoke);
}

/**
 * Switches the active assignment, the feature locked, unless what the deployment was planned against
 * moved meanwhile (another change landed; the model or its provider was edited): then 409.
 */
async function switchAssignment(trx: Db, actor: Actor, plan: Plan, checks: Check[]): Promise<DeployOutcome> {
  const { feature, model, environment, previous, deployment, kind } = plan;
  const refuse = (error: string) => finishRefused(trx, actor, deployment, checks, error, 409);
  await trx('ai_features').where({ id: feature.id }).forUpdate().first('id');
  if ((await activeModelId(trx, feature.id, environment)) !== previous) {
    return refuse(`Another change to ${environment} landed while this deployment ran; nothing was changed. Try again.`);
  }
  // The model or its provider may have been edited while the smoke request ran (taken offline,
  // deactivated, its key removed): the checks that need no network are made again on what is there now.
  const now = await loadModel(trx, model.id, true);
  const stale = now ? refusal(feature, candidateOf(now), environment, previous) : { detail: 'the model was removed' };
  if (stale) return refuse(`Changed while this deployment ran: ${stale.detail}; nothing was changed.`);
  await trx('feature_model_assignments')
    .where({ feature_id: feature.id, environment, is_active: true })
    .update({ is_active: false, deactivated_at: trx.raw('clock_timestamp()') });
  const [assignment] = await trx('feature_model_assignments')
    .insert({
      feature_id: feature.id,
      model_id: model.id,
      environment,
      assigned_by: actor.label,
      assigned_at: trx.raw('clock_timestamp()'),
    })
    .returning('*');
  const [done] = await trx('deployments')
    .where({ id: deployment.id })
    .update({ status: 'success', assignment_id: assignment.id, checks: JSON.stringify(checks), finished_at: trx.raw('clock_timestamp()') })
    .returning('*');
  await recordAudit(trx, actor, {
    action: `deployment.${kind === 'assign' ? 'succeeded' : kind === 'promote' ? 'promoted' : 'rolled_back'}`,
    entityType: 'feature',
    entityId: feature.id,
    before: { environment, model_id: previous },
    after: { environment, model_id: model.id, deployment_id: deployment.id, assignment_id: assignment.id },
  });
  return { ok: true, status: 201, deployment: done, assignment };
}

/** Finishes a deployment as refused (422 by a check, 409 after a lost race), with its checks; audited. */
export async function finishRefused(
  db: Db,
  actor: Actor,
  deployment: Row<'deployments'>,
  checks: Check[],
  error: string,
  status: 409 | 422,
): Promise<DeployOutcome> {
  const [done] = await db('deployments')
    .where({ id: deployment.id })
    .update({ status: 'failed', checks: JSON.stringify(checks), error, finished_at: db.raw('clock_timestamp()') })
    .returning('*');
  await recordAudit(db, actor, {
    action: 'deployment.refused',
    entityType: 'feature',
    entityId: deployment.feature_id,
    after: {
      environment: deployment.environment,
      model_id: deployment.model_id,
      prompt_version_id: deployment.prompt_version_id ?? undefined,
      deployment_id: deployment.id,
      error,
    },
  });
  return { ok: false, status, deployment: done };
}

/** Longer than any deployment can run (its smoke request is capped at 15 s; the eval gate starts no case after 60 s). */
const INTERRUPTED_AFTER = '2 minutes';

/**
 * Deployments a stopped process left in progress (a crash or a restart mid-check) are finished as
 * failed: nothing was switched, since the switch and the success are one transaction. Only those
 * older than any deployment can run, so another instance's running deployment is left alone.
 */
export async function failInterruptedDeployments(db: Db): Promise<number> {
  return db('deployments')
    .where({ status: 'in_progress' })
    .where('started_at', '<', db.raw(`now() - interval '${INTERRUPTED_AFTER}'`))
    .update({
      status: 'failed',
      error: 'interrupted: the server stopped while the checks ran; nothing was changed',
      finished_at: db.raw('clock_timestamp()'),
    });
}
