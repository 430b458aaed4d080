import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt, findPromptVersion } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import { type Check, type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { fieldErrors } from '../http/validation.ts';
import type { Providers } from '../providers/index.ts';
import { type Actor, recordAudit } from './audit.ts';
import { finishRefused, loadModel, type ModelForDeploy, neverInProgress, openAdapter, smokeRequest } from './deployments.ts';
import { estimatedTokens, renderStrict } from './prompt-template.ts';
import { suiteGate } from './test-gate.ts';

// Activating a prompt version in an environment goes through the deployment pipeline (SPEC §10.1), in
// the same deployments history as model changes: checks in order — every variable has a sample value
// and the template renders strictly; prompt plus max_tokens fit the model's context window; a live
// smoke request of the rendered prompt with the environment's model — then, all passed, the active
// version switches in one transaction (one active per feature and environment).

export const activateSchema = z.object({
  version: z.coerce.number({ message: 'must be a version number' }).int('must be a version number').positive('must be a version number'),
  environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` }),
  reason: z.string({ message: 'must be text' }).trim().max(500, 'must be at most 500 characters').default(''),
});
export type ActivationRequest = z.infer<typeof activateSchema>;

export interface PromptOutcome {
  ok: boolean;
  /** 201 when the version is active, 422 when a check refused it, 409 when another change won a race. */
  status: 201 | 409 | 422;
  deployment: Row<'deployments'>;
  activation?: Row<'prompt_activations'>;
}

/** What an activation would do, refused now (422) when it cannot start: unknown version, already active, no model to check with. */
export async function plannedActivation(db: Db, feature: FeatureRow, input: unknown, kind?: DeploymentKind) {
  const parsed = activateSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'Invalid activation', fieldErrors(parsed.error));
  const { version: number, environment, reason } = parsed.data;
  const version = await findPromptVersion(db, feature.id, number);
  if (!version) throw new Refusal(422, `There is no version ${number} of this prompt`, { version: 'is not a version of this prompt' });
  const current = await activePrompt(db, feature.id, environment);
  if (current?.id === version.id)
    throw new Refusal(422, `Version ${number} is already active in ${environment}`, { version: `is already active in ${environment}` });
  const serving = (await activeAssignments(db, { featureId: feature.id, environment })).at(0);
  if (!serving)
    throw new Refusal(422, `No model serves ${environment}: assign one on the Models tab first; a prompt is checked with it`, {
      environment: 'has no model to check the prompt with',
    });
  // Going back to an earlier version than the active one is a rollback, whatever the form said.
  const resolved: DeploymentKind = kind ?? (current && current.version > number ? 'rollback' : 'assign');
  return { version, environment, reason, previous: current?.id ?? null, modelId: serving.model_id, kind: resolved };
}
export type PlannedActivation = Awaited<ReturnType<typeof plannedActivation>>;

/** The checks that need no network: strict rendering with the sample values, then the context window; the rendered text when both pass. */
export function promptChecks(
  version: Row<'prompt_versions'>,
  model: Pick<ModelForDeploy, 'display_name' | 'context_window'>,
): { checks: Check[]; text?: string } {
  const rendered = renderStrict(version.template, version.sample_values);
  if (!rendered.ok) {
    const missing = rendered.missing.map((v) => `{{${v}}}`).join(', ');
    return { checks: [{ name: 'render', ok: false, detail: `no sample value for ${missing}: the template cannot render` }] };
  }
  const n = version.variables.length;
  const render: Check = { name: 'render', ok: true, detail: `renders with the sample values of its ${n} variable${n === 1 ? '' : 's'}` };
  const context = contextCheck(rendered.text, version.params.max_tokens, model);
  return { checks: [render, context], text: context.ok ? rendered.text : undefined };
}

/** Whether the rendered prompt (estimated: no tokenizer) and the answer's max_tokens fit the model's context window. */
function contextCheck(text: string, maxTokens: number | undefined, model: Pick<ModelForDeploy, 'display_name' | 'context_window'>): Check {
  const prompt = estimatedTokens(text);
  const answer = maxTokens ?? 0;
  const counted = `about ${prompt.toLocaleString('en')} prompt tokens (4 characters a token)${
    answer ? ` + ${answer.toLocaleString('en')} max_tokens` : ', no max_tokens set'
  }`;
  if (model.context_window === null)
    return { name: 'context', ok: true, detail: `not checked: the context window of ${model.display_name} is not known (${counted})` };
  const fits = prompt + answer <= model.context_window;
  const window = `the ${model.context_window.toLocaleString('en')}-token context window of ${model.display_name}`;
  return { name: 'context', ok: fits, detail: `${counted} ${fits ? 'fit' : 'do not fit'} ${window}` };
}

/**
 * A prompt version's checks with a model, in order: render and context, a live smoke request of the
 * rendered prompt, then the eval gate (unless `gate` is false: a rollout of a new model and prompt runs it once, for the pair).
 */
export async function promptVersionChecks(
  db: Db,
  providers: Providers,
  c: { feature: FeatureRow; version: Row<'prompt_versions'>; model: ModelForDeploy; environment: Environment; gate?: boolean },
  by: { requestedBy: string; deploymentId?: string },
  noted: (checks: Check[]) => Promise<unknown> = async () => undefined,
): Promise<Check[]> {
  const { checks, text } = promptChecks(c.version, c.model);
  await noted(checks);
  if (text !== undefined) {
    const opened = await openAdapter(providers, c.model);
    const { temperature, max_tokens, stop } = c.version.params;
    checks.push(
      'check' in opened ? opened.check : await smokeRequest(db, opened.adapter, c.model, { input: text, temperature, max_tokens, stop }),
    );
  }
  if (c.gate !== false && checks.every((x) => x.ok)) {
    const gate = await suiteGate(db, providers, c.feature, {
      modelId: c.model.id,
      promptVersion: c.version.version,
      environment: c.environment,
      ...by,
    });
    if (gate) checks.push(gate);
  }
  return checks;
}

/** Runs the pipeline for a planned activation: a deployment recorded, the checks stored in order, then the switch. */
export async function activatePrompt(
  db: Db,
  providers: Providers,
  actor: Actor,
  feature: FeatureRow,
  plan: PlannedActivation,
): Promise<PromptOutcome> {
  const { version, environment, previous, modelId, kind, reason } = plan;
  const [deployment] = await db('deployments')
    .insert({
      feature_id: feature.id,
      subject: 'prompt',
      model_id: modelId,
      previous_model_id: modelId,
      prompt_version_id: version.id,
      previous_prompt_version_id: previous,
      environment,
      kind,
      reason,
      requested_by: actor.label,
    })
    .returning('*');
  return neverInProgress(db, deployment, async () => {
    const model = (await loadModel(db, modelId))!;
    const checks = await promptVersionChecks(
      db,
      providers,
      { feature, version, model, environment },
      { requestedBy: deployment.requested_by, deploymentId: deployment.id },
      (first) =>
        db('deployments')
          .where({ id: deployment.id })
          .update({ checks: JSON.stringify(first) }),
    );
    const failed = checks.find((c) => !c.ok);
    if (failed) return finishRefused(db, actor, deployment, checks, failed.detail, 422);
    return db.transaction((trx) => switchPrompt(trx, actor, feature, plan, deployment, checks));
  });
}

const AUDIT_ACTION: Record<DeploymentKind, string> = {
  assign: 'prompt.activated',
  promote: 'prompt.promoted',
  rollback: 'prompt.rolled_back',
};

/** Moves the pointer, the feature locked, unless the active version or the model moved meanwhile (409). */
async function switchPrompt(
  trx: Db,
  actor: Actor,
  feature: FeatureRow,
  plan: PlannedActivation,
  deployment: Row<'deployments'>,
  checks: Check[],
): Promise<PromptOutcome> {
  const { version, environment, previous, modelId, kind } = plan;
  await trx('ai_features').where({ id: feature.id }).forUpdate().first('id');
  const [prompt, serving] = await Promise.all([
    activePrompt(trx, feature.id, environment),
    activeAssignments(trx, { featureId: feature.id, environment }),
  ]);
  if ((prompt?.id ?? null) !== previous || serving.at(0)?.model_id !== modelId)
    return finishRefused(
      trx,
      actor,
      deployment,
      checks,
      `Another change to ${environment} landed while this activation ran; nothing was changed. Try again.`,
      409,
    );
  await trx('prompt_activations')
    .where({ feature_id: feature.id, environment, is_active: true })
    .update({ is_active: false, deactivated_at: trx.raw('clock_timestamp()') });
  const [activation] = await trx('prompt_activations')
    .insert({
      feature_id: feature.id,
      prompt_version_id: version.id,
      environment,
      activated_by: actor.label,
      activated_at: trx.raw('clock_timestamp()'),
      previous_version_id: previous,
      deployment_id: deployment.id,
    })
    .returning('*');
  const [done] = await trx('deployments')
    .where({ id: deployment.id })
    .update({ status: 'success', checks: JSON.stringify(checks), finished_at: trx.raw('clock_timestamp()') })
    .returning('*');
  await recordAudit(trx, actor, {
    action: AUDIT_ACTION[kind],
    entityType: 'feature',
    entityId: feature.id,
    before: { environment, prompt_version_id: previous },
    after: {
      environment,
      prompt_version_id: version.id,
      version: version.version,
      deployment_id: deployment.id,
      reason: plan.reason || undefined,
    },
  });
  return { ok: true, status: 201, deployment: done, activation };
}
