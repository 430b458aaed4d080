import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt } from '../db/queries/prompts.ts';
import type { Row } from '../db/tables.ts';
import type { Environment } from '../domain.ts';

/**
 * What the product's feature must use now in one environment (SPEC §7): its status and settings,
 * the active model with its provider's slug and base URL (never a credential), the active prompt
 * version, and a version string that changes whenever any of them does.
 */
export async function runtimeConfig(db: Db, feature: FeatureRow, environment: Environment) {
  const [assignments, prompt] = await Promise.all([
    activeAssignments(db, { featureId: feature.id, environment }),
    activePrompt(db, feature.id, environment),
  ]);
  const model = assignments.at(0);
  const config = {
    feature: feature.name,
    environment,
    status: feature.status,
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
