import { isUuid, keyHint, type ModelStatus, type ModelType, type ProviderKind, type ProviderStatus } from '../../domain.ts';
import type { Db } from '../knex.ts';

export interface ProviderRow {
  id: string;
  name: string;
  display_name: string;
  kind: ProviderKind;
  base_url: string | null;
  api_key_last4: string | null;
  /** The key as it may be shown: keyHint(api_key_last4). */
  key_hint: string | null;
  status: ProviderStatus;
  model_count: number;
}

export interface ModelRow {
  id: string;
  name: string;
  display_name: string;
  model_type: ModelType;
  status: ModelStatus;
  input_price_per_1k: number;
  output_price_per_1k: number;
  context_window: number | null;
  provider_id: string;
  provider_name: string;
  provider_display_name: string;
  provider_status: ProviderStatus;
  provider_kind: ProviderKind;
  provider_has_key: boolean;
}

/** Providers with their model counts; the key is only ever read back as its last 4 characters. */
export async function listProviders(db: Db): Promise<ProviderRow[]> {
  return (await providersQuery(db)).map(withKeyHint);
}

const withKeyHint = (p: Omit<ProviderRow, 'key_hint'>): ProviderRow => ({ ...p, key_hint: keyHint(p.api_key_last4) });

const providersQuery = (db: Db) =>
  db('ai_providers as p')
    .leftJoin('ai_models as m', 'm.provider_id', 'p.id')
    .groupBy('p.id')
    .orderBy('p.display_name')
    .select('p.id', 'p.name', 'p.display_name', 'p.kind', 'p.base_url', 'p.api_key_last4', 'p.status')
    .select(db.raw('count(m.id)::int AS model_count'));

export async function listModels(db: Db): Promise<ModelRow[]> {
  return modelsQuery(db);
}

const modelsQuery = (db: Db) =>
  db('ai_models as m')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .orderBy(['p.display_name', 'm.display_name'])
    .select(
      'm.id',
      'm.name',
      'm.display_name',
      'm.model_type',
      'm.status',
      'm.input_price_per_1k',
      'm.output_price_per_1k',
      'm.context_window',
      'p.id as provider_id',
      'p.name as provider_name',
      'p.display_name as provider_display_name',
      'p.status as provider_status',
      'p.kind as provider_kind',
      db.raw('p.api_key_last4 IS NOT NULL AS provider_has_key'),
    );

export interface ModelDeploymentRow {
  model_id: string;
  feature_name: string;
  feature_display_name: string;
  environment: string;
  is_active: boolean;
}

/** Where each model serves right now: feature × environment. */
export async function activeDeployments(db: Db): Promise<ModelDeploymentRow[]> {
  return db('feature_model_assignments as a')
    .join('ai_features as f', 'f.id', 'a.feature_id')
    .where('a.is_active', true)
    .select('a.model_id', 'f.name as feature_name', 'f.display_name as feature_display_name', 'a.environment', 'a.is_active');
}

/** A model the built-in simulator serves, by name. */
export async function findSimulatorModel(db: Db, name: string): Promise<{ id: string } | undefined> {
  return db('ai_models as m')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .where({ 'm.name': name, 'p.kind': 'simulator' })
    .first('m.id');
}

/** One provider by uuid or slug, as listed (the key only as its last 4 characters). */
export async function findProvider(db: Db, idOrName: string): Promise<ProviderRow | undefined> {
  const row = await providersQuery(db)
    .where(isUuid(idOrName) ? { 'p.id': idOrName } : { 'p.name': idOrName })
    .first();
  return row && withKeyHint(row);
}

/** One model by uuid, as listed. */
export async function findModel(db: Db, id: string): Promise<ModelRow | undefined> {
  return isUuid(id) ? modelsQuery(db).where('m.id', id).first() : undefined;
}

/** The models of that name, across providers (a name is unique per provider only). */
export async function findModelsNamed(db: Db, name: string): Promise<ModelRow[]> {
  return modelsQuery(db).where('m.name', name);
}
