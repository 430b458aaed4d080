import type { Db } from '../knex.ts';

export interface DeploymentRow {
  id: string;
  feature_name: string;
  feature_display_name: string;
  model_display_name: string;
  environment: string;
  kind: string;
  status: string;
  requested_by: string;
  started_at: Date;
  finished_at: Date | null;
  error: string | null;
}

const deploymentsQuery = (db: Db) =>
  db('deployments as d')
    .join('ai_features as f', 'f.id', 'd.feature_id')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .orderBy('d.started_at', 'desc')
    .orderBy('d.id');

const DEPLOYMENT_COLUMNS = [
  'd.id',
  'f.name as feature_name',
  'f.display_name as feature_display_name',
  'm.display_name as model_display_name',
  'd.environment',
  'd.kind',
  'd.status',
  'd.requested_by',
  'd.started_at',
  'd.finished_at',
  'd.error',
];

export async function recentDeployments(db: Db, limit: number): Promise<DeploymentRow[]> {
  return deploymentsQuery(db).limit(limit).select(DEPLOYMENT_COLUMNS);
}

export interface DeploymentFilter {
  /** Feature slug. */
  feature?: string;
  /** Model id. */
  model?: string;
  environment?: string;
  status?: string;
}

/** One page of the deployments history, newest first, with its checks, and how many match the filter. */
export async function deploymentsPage(db: Db, limit: number, offset: number, filter: DeploymentFilter = {}) {
  const where = (q: ReturnType<typeof deploymentsQuery>) => {
    if (filter.feature) q.where('f.name', filter.feature);
    if (filter.model) q.where('d.model_id', filter.model);
    if (filter.environment) q.where('d.environment', filter.environment);
    if (filter.status) q.where('d.status', filter.status);
    return q;
  };
  const [rows, [{ total }]] = await Promise.all([
    where(deploymentsQuery(db))
      .limit(limit)
      .offset(offset)
      .select([...DEPLOYMENT_COLUMNS, 'd.feature_id', 'd.model_id', 'd.previous_model_id', 'd.assignment_id', 'd.checks']),
    where(deploymentsQuery(db)).clearOrder().count<{ total: string }[]>({ total: '*' }),
  ]);
  return { rows, total: Number(total) };
}

export interface ChangeMarkerRow {
  id: string;
  environment: string;
  kind: string;
  model_display_name: string;
  previous_model_display_name: string | null;
  finished_at: Date;
}

/** Model changes that took effect for a feature in [from, to): drawn as markers on its charts. */
export async function featureChanges(db: Db, featureId: string, from: Date, to: Date): Promise<ChangeMarkerRow[]> {
  return db('deployments as d')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .leftJoin('ai_models as pm', 'pm.id', 'd.previous_model_id')
    .where({ 'd.feature_id': featureId, 'd.status': 'success' })
    .where('d.finished_at', '>=', from)
    .where('d.finished_at', '<', to)
    .orderBy('d.finished_at')
    .select(
      'd.id',
      'd.environment',
      'd.kind',
      'm.display_name as model_display_name',
      'pm.display_name as previous_model_display_name',
      'd.finished_at',
    );
}

/** One deployment with its checks and the names of what it touched. */
export async function findDeployment(db: Db, id: string) {
  return db('deployments as d')
    .join('ai_features as f', 'f.id', 'd.feature_id')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .leftJoin('ai_models as pm', 'pm.id', 'd.previous_model_id')
    .where('d.id', id)
    .first([...DEPLOYMENT_COLUMNS, 'd.checks', 'pm.display_name as previous_model_display_name']);
}
