import { isUuid, keyHint } from '../../domain.ts';
import { type LastProbe, unreachable } from '../../services/deployability.ts';
import { type ColumnMap, columns, MODEL_IDENTITY, type ModelJoin, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';
import type { Row } from '../tables.ts';
import { type ActiveAssignmentRow, activeAssignments } from './assignments.ts';
import { type LastProbeColumns, lastProbeOf, withLastProbe } from './probes.ts';

type ProviderJoin = { p: 'ai_providers' };
const PROVIDER_COLUMNS = {
  id: 'p.id',
  name: 'p.name',
  display_name: 'p.display_name',
  kind: 'p.kind',
  base_url: 'p.base_url',
  api_key_last4: 'p.api_key_last4',
  status: 'p.status',
  archived_at: 'p.archived_at',
  archived_by: 'p.archived_by',
} as const satisfies ColumnMap<ProviderJoin>;

/** A provider as listed: never its key, only its last 4 characters. */
export type ProviderRow = Selected<ProviderJoin, typeof PROVIDER_COLUMNS> & {
  model_count: number;
  /** The key as it may be shown: keyHint(api_key_last4). */
  key_hint: string | null;
  /** Its latest probe or connection test, null before the first. */
  last_probe: LastProbe | null;
  /** Since when, and why, it has not answered its probes; null while it answers. */
  unreachable: ReturnType<typeof unreachable>;
};

const MODEL_COLUMNS = {
  ...MODEL_IDENTITY,
  input_price_per_1k: 'm.input_price_per_1k',
  output_price_per_1k: 'm.output_price_per_1k',
  context_window: 'm.context_window',
  provider_id: 'p.id',
  provider_name: 'p.name',
  provider_display_name: 'p.display_name',
  provider_status: 'p.status',
  provider_kind: 'p.kind',
  archived_at: 'm.archived_at',
  archived_by: 'm.archived_by',
  provider_archived_at: 'p.archived_at',
} as const satisfies ColumnMap<ModelJoin>;

/** A model as listed, with its provider. */
export type ModelRow = Selected<ModelJoin, typeof MODEL_COLUMNS> & { provider_has_key: boolean };

/** Providers with their model counts; the key is only ever read back as its last 4 characters. */
export async function listProviders(db: Db): Promise<ProviderRow[]> {
  return (await providersQuery(db)).map(withKeyHint);
}

const withKeyHint = ({ probe_ok, probe_error, probe_checked_at, probe_failing_since, ...p }: ProviderQueryRow): ProviderRow => {
  const last_probe = lastProbeOf({ probe_ok, probe_error, probe_checked_at, probe_failing_since });
  return { ...p, key_hint: keyHint(p.api_key_last4), last_probe, unreachable: unreachable(last_probe) };
};

type ProviderQueryRow = Omit<ProviderRow, 'key_hint' | 'last_probe' | 'unreachable'> & LastProbeColumns;

const providersQuery = (db: Db) =>
  withLastProbe(
    db,
    db('ai_providers as p')
      .orderBy('p.display_name')
      .select(...columns(PROVIDER_COLUMNS), db.raw('(SELECT count(*) FROM ai_models m WHERE m.provider_id = p.id)::int AS model_count')),
  );

export async function listModels(db: Db): Promise<ModelRow[]> {
  return modelsQuery(db);
}

const modelsQuery = (db: Db) =>
  db('ai_models as m')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .orderBy(['p.display_name', 'm.display_name'])
    .select(...columns(MODEL_COLUMNS), db.raw('p.api_key_last4 IS NOT NULL AS provider_has_key'));

/** Where a model serves, as the catalogue API shows it (beside the model's id). */
export type ModelDeploymentRow = Pick<ActiveAssignmentRow, 'model_id' | 'feature_name' | 'feature_display_name' | 'environment'> & {
  is_active: true;
};

/** Where each model serves right now: feature × environment. */
export async function activeDeployments(db: Db): Promise<ModelDeploymentRow[]> {
  return (await activeAssignments(db)).map((a) => ({
    model_id: a.model_id,
    feature_name: a.feature_name,
    feature_display_name: a.feature_display_name,
    environment: a.environment,
    is_active: true,
  }));
}

/** A model the built-in simulator serves, by name. */
export async function findSimulatorModel(db: Db, name: string): Promise<Pick<Row<'ai_models'>, 'id'> | undefined> {
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
