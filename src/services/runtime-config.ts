import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Environment } from '../domain.ts';

/**
 * What the product's feature must use now in one environment (SPEC §7): its status and settings,
 * the active model with its provider's slug and base URL (never a credential), the active prompt
 * version, and a version string that changes whenever any of them does.
 */
export async function runtimeConfig(db: Db, feature: FeatureRow, environment: Environment) {
  const [model, prompt] = await Promise.all([
    db('feature_model_assignments as a')
      .join('ai_models as m', 'm.id', 'a.model_id')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .where({ 'a.feature_id': feature.id, 'a.environment': environment, 'a.is_active': true })
      .first(
        'a.id as assignment_id',
        'a.assigned_at',
        'm.id',
        'm.name',
        'm.model_type',
        'm.status',
        'p.name as provider',
        'p.kind as provider_kind',
        'p.base_url',
        'a.config_overrides',
      ),
    db('prompt_activations as a')
      .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
      .where({ 'a.feature_id': feature.id, 'a.environment': environment, 'a.is_active': true })
      .first('v.id', 'v.version', 'v.template'),
  ]);
  const config = {
    feature: feature.name,
    environment,
    status: feature.status,
    model: model
      ? {
          id: model.id,
          name: model.name,
          type: model.model_type,
          status: model.status,
          provider: model.provider,
          provider_kind: model.provider_kind,
          base_url: model.base_url,
          overrides: model.config_overrides,
          assigned_at: model.assigned_at,
        }
      : null,
    prompt: prompt ? { id: prompt.id, version: prompt.version, template: prompt.template } : null,
    settings: {
      error_rate_threshold: Number(feature.error_rate_threshold),
      latency_threshold_ms: feature.latency_threshold_ms,
      monthly_budget_usd: feature.monthly_budget_usd === null ? null : Number(feature.monthly_budget_usd),
    },
  };
  const version = crypto.createHash('sha256').update(JSON.stringify(config)).digest('base64url').slice(0, 22);
  return { ...config, version };
}
