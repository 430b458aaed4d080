import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import type { Environment } from '../domain.ts';
import { monthToDateSpend } from '../metrics/summaries.ts';
import { armOf, BUCKET_ALGORITHM } from './rollout-plan.ts';
import { activeRollout } from './rollouts.ts';

/**
 * Whether the product should treat the feature as over budget: only when the feature asks for the
 * flag (over_budget_action `flag`) and this month's spend, all environments together, reached the budget.
 */
async function overBudget(db: Db, feature: FeatureRow, now: Date): Promise<boolean> {
  if (feature.over_budget_action !== 'flag' || feature.monthly_budget_usd === null) return false;
  const spend = (await monthToDateSpend(db, [feature.id], now)).current.get(feature.id) ?? 0;
  return spend >= Number(feature.monthly_budget_usd);
}

/**
 * What the product's feature must use now in one environment (SPEC §7): its status (the kill switch,
 * with its reason and automatic restore time), whether it is over budget, its settings, the active
 * model with its provider's slug and base URL (never a credential), the active prompt version, and a
 * version string that changes whenever any of them does. The README says what a client does with each status.
 */
export async function runtimeConfig(db: Db, feature: FeatureRow, environment: Environment, now: Date, endUserId?: string) {
  const [assignments, prompt, over_budget, rollout] = await Promise.all([
    activeAssignments(db, { featureId: feature.id, environment }),
    activePrompt(db, feature.id, environment),
    overBudget(db, feature, now),
    // The kill switch overrides any rollout: a feature not active serves nobody a candidate.
    feature.status === 'active' ? rolloutJson(db, feature.id, environment) : null,
  ]);
  const model = assignments.at(0);
  const arm = endUserId === undefined ? undefined : userArm(rollout, endUserId);
  const config = {
    feature: feature.name,
    environment,
    status: feature.status,
    status_reason: feature.status_reason,
    restore_at: feature.restore_at,
    over_budget,
    ...(arm ?? { rollout }),
    model:
      arm?.variant === 'candidate' && rollout?.candidate.model
        ? rollout.candidate.model
        : model
          ? {
              id: model.model_id,
              name: model.model_name,
              type: model.model_type,
              status: model.model_status,
              provider: model.provider_name,
              provider_kind: model.provider_kind,
              base_url: model.base_url,
              overrides: model.config_overrides,
              assigned_at: model.assigned_at,
            }
          : null,
    prompt: arm?.variant === 'candidate' && rollout?.candidate.prompt ? rollout.candidate.prompt : prompt ? promptJson(prompt) : null,
    settings: {
      error_rate_threshold: Number(feature.error_rate_threshold),
      latency_threshold_ms: feature.latency_threshold_ms,
      monthly_budget_usd: feature.monthly_budget_usd === null ? null : Number(feature.monthly_budget_usd),
      over_budget_action: feature.over_budget_action,
    },
  };
  const version = crypto.createHash('sha256').update(JSON.stringify(config)).digest('base64url').slice(0, 22);
  return { ...config, version };
}

/** A prompt version as the product reads it (the runtime config's active one, or a pinned one). */
export const promptJson = (v: Pick<Row<'prompt_versions'>, 'id' | 'version' | 'template' | 'params' | 'variables' | 'content_hash'>) => ({
  id: v.id,
  version: v.version,
  template: v.template,
  params: v.params,
  variables: v.variables,
  content_hash: v.content_hash,
});

/**
 * The running or paused rollout as the product reads it: share, salt and the documented algorithm, and
 * what the candidate changes — its model, its prompt version, or both (null: the stable one's).
 */
async function rolloutJson(db: Db, featureId: string, environment: Environment) {
  const rollout = await activeRollout(db, featureId, environment);
  if (!rollout) return null;
  const [m, v] = await Promise.all([
    rollout.candidate_model_id
      ? db('ai_models as m')
          .join('ai_providers as p', 'p.id', 'm.provider_id')
          .where('m.id', rollout.candidate_model_id)
          .first('m.id', 'm.name', 'm.model_type as type', 'm.status', 'p.name as provider', 'p.kind as provider_kind', 'p.base_url')
      : undefined,
    rollout.candidate_prompt_version_id ? db('prompt_versions').where({ id: rollout.candidate_prompt_version_id }).first() : undefined,
  ]);
  return {
    id: rollout.id,
    status: rollout.status,
    percent_bp: rollout.percent_bp,
    salt: rollout.salt,
    bucket_by: 'end_user_id' as const,
    algorithm: BUCKET_ALGORITHM,
    no_user: 'stable' as const,
    candidate: {
      model: m ? { ...m, overrides: {}, assigned_at: rollout.started_at } : null,
      prompt: v ? promptJson(v) : null,
    },
  };
}

/** What one end user is served (`?end_user_id=`): its arm by the documented bucketing; stable when no rollout runs. */
function userArm(rollout: Awaited<ReturnType<typeof rolloutJson>>, endUserId: string) {
  const variant = rollout ? armOf(rollout.salt, rollout.percent_bp, endUserId) : ('stable' as const);
  return { end_user_id: endUserId, variant, rollout_id: rollout?.id ?? null };
}
