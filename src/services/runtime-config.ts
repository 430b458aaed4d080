import crypto from 'node:crypto';
import { type ColumnMap, columns, type Selected } from '../db/columns.ts';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Environment } from '../domain.ts';

type ModelJoin = { a: 'feature_model_assignments'; m: 'ai_models'; p: 'ai_providers' };
const MODEL_COLUMNS = {
  assignment_id: 'a.id',
  assigned_at: 'a.assigned_at',
  id: 'm.id',
  name: 'm.name',
  model_type: 'm.model_type',
  status: 'm.status',
  provider: 'p.name',
  provider_kind: 'p.kind',
  base_url: 'p.base_url',
  config_overrides: 'a.config_overrides',
} as const satisfies ColumnMap<ModelJoin>;

type PromptJoin = { a: 'prompt_activations'; v: 'prompt_versions' };
const PROMPT_COLUMNS = { id: 'v.id', version: 'v.version', template: 'v.template' } as const satisfies ColumnMap<PromptJoin>;

/**
 * What the product's feature must use now in one environment (SPEC §7): its status and settings,
 * the active model with its provider's slug and base URL (never a credential), the active prompt
 * version, and a version string that changes whenever any of them does.
 */
export async function runtimeConfig(db: Db, feature: FeatureRow, environment: Environment) {
  const [model, prompt]: [Selected<ModelJoin, typeof MODEL_COLUMNS>?, Selected<PromptJoin, typeof PROMPT_COLUMNS>?] = await Promise.all([
    db('feature_model_assignments as a')
      .join('ai_models as m', 'm.id', 'a.model_id')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .where({ 'a.feature_id': feature.id, 'a.environment': environment, 'a.is_active': true })
      .first(columns(MODEL_COLUMNS)),
    db('prompt_activations as a')
      .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
      .where({ 'a.feature_id': feature.id, 'a.environment': environment, 'a.is_active': true })
      .first(columns(PROMPT_COLUMNS)),
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
