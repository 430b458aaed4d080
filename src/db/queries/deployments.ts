import type { Environment } from '../../domain.ts';
import { type Adjusted, type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';

type DeploymentJoin = { d: 'deployments'; f: 'ai_features'; m: 'ai_models'; pm: 'ai_models'; pv: 'prompt_versions' };

const DEPLOYMENT_COLUMNS = {
  id: 'd.id',
  feature_name: 'f.name',
  feature_display_name: 'f.display_name',
  model_display_name: 'm.display_name',
  environment: 'd.environment',
  kind: 'd.kind',
  subject: 'd.subject',
  /** A prompt deployment's version number (model_display_name is then the model it was checked with). */
  prompt_version: 'pv.version',
  status: 'd.status',
  requested_by: 'd.requested_by',
  started_at: 'd.started_at',
  finished_at: 'd.finished_at',
  error: 'd.error',
} as const satisfies ColumnMap<DeploymentJoin>;

/** A deployment as the histories list it: a model change, or a prompt activation. */
export type DeploymentRow = Adjusted<Selected<DeploymentJoin, typeof DEPLOYMENT_COLUMNS>, { prompt_version: number | null }>;

const deploymentsQuery = (db: Db) =>
  db('deployments as d')
    .join('ai_features as f', 'f.id', 'd.feature_id')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .leftJoin('prompt_versions as pv', 'pv.id', 'd.prompt_version_id')
    .orderBy('d.started_at', 'desc')
    .orderBy('d.id');

export async function recentDeployments(db: Db, limit: number): Promise<DeploymentRow[]> {
  return deploymentsQuery(db).limit(limit).select(columns(DEPLOYMENT_COLUMNS));
}

export interface DeploymentFilter {
  /** Feature slug. */
  feature?: string;
  /** Model id. */
  model?: string;
  environment?: Environment;
  /** A deployment status (the pages check it against DEPLOYMENT_STATUSES). */
  status?: string;
}

const PAGE_COLUMNS = {
  ...DEPLOYMENT_COLUMNS,
  feature_id: 'd.feature_id',
  model_id: 'd.model_id',
  previous_model_id: 'd.previous_model_id',
  assignment_id: 'd.assignment_id',
  checks: 'd.checks',
} as const satisfies ColumnMap<DeploymentJoin>;

/** A deployment in the paged history: also what it touched by id, and its checks. */
export type DeploymentPageRow = Adjusted<Selected<DeploymentJoin, typeof PAGE_COLUMNS>, { prompt_version: number | null }>;

/** One page of the deployments history, newest first, with its checks, and how many match the filter. */
export async function deploymentsPage(
  db: Db,
  limit: number,
  offset: number,
  filter: DeploymentFilter = {},
): Promise<{ rows: DeploymentPageRow[]; total: number }> {
  const where = (q: ReturnType<typeof deploymentsQuery>) => {
    if (filter.feature) q.where('f.name', filter.feature);
    if (filter.model) q.where('d.model_id', filter.model);
    if (filter.environment) q.where('d.environment', filter.environment);
    if (filter.status) q.where('d.status', filter.status);
    return q;
  };
  const [rows, [{ total }]] = await Promise.all([
    where(deploymentsQuery(db)).limit(limit).offset(offset).select(columns(PAGE_COLUMNS)),
    where(deploymentsQuery(db)).clearOrder().count<{ total: string }[]>({ total: '*' }),
  ]);
  return { rows, total: Number(total) };
}

const CHANGE_COLUMNS = {
  id: 'd.id',
  environment: 'd.environment',
  kind: 'd.kind',
  model_display_name: 'm.display_name',
  previous_model_display_name: 'pm.display_name',
  finished_at: 'd.finished_at',
} as const satisfies ColumnMap<DeploymentJoin>;

/** A model change drawn on a feature's charts; the previous model's name is null for a first assignment. */
export type ChangeMarkerRow = Adjusted<
  Selected<DeploymentJoin, typeof CHANGE_COLUMNS>,
  { previous_model_display_name: string | null; finished_at: Date }
>;

/** Model changes (not prompt activations) that took effect for a feature in [from, to): drawn as markers on its charts. */
export async function featureChanges(db: Db, featureId: string, from: Date, to: Date): Promise<ChangeMarkerRow[]> {
  return db('deployments as d')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .leftJoin('ai_models as pm', 'pm.id', 'd.previous_model_id')
    .where({ 'd.feature_id': featureId, 'd.status': 'success', 'd.subject': 'model' })
    .where('d.finished_at', '>=', from)
    .where('d.finished_at', '<', to)
    .orderBy('d.finished_at')
    .select(columns(CHANGE_COLUMNS));
}

const DETAIL_COLUMNS = {
  ...DEPLOYMENT_COLUMNS,
  checks: 'd.checks',
  previous_model_display_name: 'pm.display_name',
  reason: 'd.reason',
} as const satisfies ColumnMap<DeploymentJoin>;

/** A deployment's page: its checks and the names of what it touched (no previous model for a first assignment). */
export type DeploymentDetail = Adjusted<
  Selected<DeploymentJoin, typeof DETAIL_COLUMNS>,
  { previous_model_display_name: string | null; prompt_version: number | null }
>;

/** One deployment with its checks and the names of what it touched. */
export async function findDeployment(db: Db, id: string): Promise<DeploymentDetail | undefined> {
  return db('deployments as d')
    .join('ai_features as f', 'f.id', 'd.feature_id')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .leftJoin('ai_models as pm', 'pm.id', 'd.previous_model_id')
    .leftJoin('prompt_versions as pv', 'pv.id', 'd.prompt_version_id')
    .where('d.id', id)
    .first(columns(DETAIL_COLUMNS));
}
