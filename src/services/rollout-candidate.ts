import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt, findPromptVersion } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import type { Check, Environment } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import type { Providers } from '../providers/index.ts';
import type { Actor } from './audit.ts';
import { candidateChecks, deploy, loadModel, type ModelForDeploy } from './deployments.ts';
import { activatePrompt, plannedActivation, promptVersionChecks } from './prompt-activation.ts';

// A rollout's candidate (issue 18): a model, a prompt version of the feature, or both, against what
// serves the environment now (the stable arm); the checks it passes before any user sees it, and
// what Complete switches through the pipeline.

export interface CandidatePlan {
  model?: ModelForDeploy;
  version?: Row<'prompt_versions'>;
  stableModelId: string;
  stablePrompt: { id: string; version: number } | null;
}

const invalid = (errors: Record<string, string>) => new Refusal(422, 'Invalid rollout', errors);

/** The candidate asked for, checked against the environment: at least one of the two, each known and not the one serving there. */
export async function plannedCandidate(
  db: Db,
  feature: FeatureRow,
  environment: Environment,
  input: { model_id?: string; prompt_version?: number },
): Promise<CandidatePlan> {
  if (!input.model_id && input.prompt_version === undefined)
    throw invalid({ model_id: 'choose a candidate model, a prompt version, or both', prompt_version: 'or choose a prompt version' });
  const stableModelId = (await activeAssignments(db, { featureId: feature.id, environment })).at(0)?.model_id;
  if (!stableModelId) throw invalid({ model_id: `nothing serves ${environment} yet: assign a model instead` });
  const prompt = await activePrompt(db, feature.id, environment);
  const stablePrompt = prompt ? { id: prompt.id, version: prompt.version } : null;
  const plan: CandidatePlan = { stableModelId, stablePrompt };
  if (input.model_id) {
    plan.model = await loadModel(db, input.model_id);
    if (!plan.model) throw invalid({ model_id: 'is not a known model' });
    if (plan.model.id === stableModelId) throw invalid({ model_id: `already serves ${environment}` });
  }
  if (input.prompt_version !== undefined) {
    plan.version = await findPromptVersion(db, feature.id, input.prompt_version);
    if (!plan.version) throw invalid({ prompt_version: "is not a version of this feature's prompt" });
    if (plan.version.id === stablePrompt?.id) throw invalid({ prompt_version: `is already active in ${environment}` });
  }
  return plan;
}

/**
 * The same checks as the pipeline's, for what candidate users will get: the model's (status, provider,
 * smoke) and the prompt's (render, context, smoke with the model candidates use), the eval gate once,
 * for the pair.
 */
export async function candidateStartChecks(
  db: Db,
  providers: Providers,
  actor: Actor,
  feature: FeatureRow,
  environment: Environment,
  plan: CandidatePlan,
): Promise<Check[]> {
  const by = { requestedBy: actor.label };
  const checks: Check[] = [];
  if (plan.model) {
    const gateWith = { ...by, ...(plan.version && { promptVersion: plan.version.version }) };
    checks.push(
      ...(await candidateChecks(db, providers, { feature, model: plan.model, environment, previous: plan.stableModelId }, gateWith)),
    );
  }
  if (plan.version && checks.every((c) => c.ok)) {
    const model = plan.model ?? (await loadModel(db, plan.stableModelId))!;
    checks.push(
      ...(await promptVersionChecks(db, providers, { feature, version: plan.version, model, environment, gate: !plan.model }, by)),
    );
  }
  return checks;
}

/** How a candidate is named in decisions and pages: "GPT-4o mini", "prompt v3", or both. */
export const candidateName = (model: { display_name: string } | undefined | null, version: number | null | undefined) =>
  [model?.display_name, version ? `prompt v${version}` : undefined].filter(Boolean).join(' with ');

/**
 * Complete: the candidate model becomes the assignment (a `promote` deployment) and the candidate
 * prompt the active version (a `promote` prompt activation), each through the pipeline with its checks
 * run again; a step already done (the model switched on an earlier try) is skipped. The first refusal stops it.
 */
export async function switchToCandidate(db: Db, providers: Providers, actor: Actor, feature: FeatureRow, rollout: Row<'rollouts'>) {
  const deployments: string[] = [];
  const environment = rollout.environment as Environment;
  const serving = (await activeAssignments(db, { featureId: feature.id, environment })).at(0)?.model_id;
  if (rollout.candidate_model_id && serving !== rollout.candidate_model_id) {
    const outcome = await deploy(db, providers, actor, feature, { model_id: rollout.candidate_model_id, environment }, 'promote');
    if (!outcome.ok)
      throw new Refusal(outcome.status === 409 ? 409 : 422, String(outcome.deployment.error), {}, { deployment: outcome.deployment });
    deployments.push(outcome.deployment.id);
  }
  if (
    rollout.candidate_prompt_version_id &&
    (await activePrompt(db, feature.id, environment))?.id !== rollout.candidate_prompt_version_id
  ) {
    const version = (await db('prompt_versions').where({ id: rollout.candidate_prompt_version_id }).first('version'))!;
    const plan = await plannedActivation(db, feature, { version: version.version, environment, reason: 'rollout completed' }, 'promote');
    const outcome = await activatePrompt(db, providers, actor, feature, plan);
    if (!outcome.ok)
      throw new Refusal(outcome.status === 409 ? 409 : 422, String(outcome.deployment.error), {}, { deployment: outcome.deployment });
    deployments.push(outcome.deployment.id);
  }
  return deployments;
}
