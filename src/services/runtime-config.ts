import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import type { Environment } from '../domain.ts';
import { monthToDateSpend } from '../metrics/summaries.ts';

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
export async function runtimeConfig(db: Db, feature: FeatureRow, environment: Environment, now: Date) {
  const [assignments, prompt, over_budget] = await Promise.all([
    activeAssignments(db, { featureId: feature.id, environment }),
    activePrompt(db, feature.id, environment),
    overBudget(db, feature, now),
  ]);
  const model = assignments.at(0);
  const config = {
    feature: feature.name,
    environment,
    status: feature.status,
    status_reason: feature.status_reason,
    restore_at: feature.restore_at,
    over_budget,
    model: model
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
    prompt: prompt ? promptJson(prompt) : null,
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
