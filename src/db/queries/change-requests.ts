import { type Adjusted, type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';

type RequestJoin = {
  c: 'change_requests';
  f: 'ai_features';
  m: 'ai_models';
  pm: 'ai_models';
  pv: 'prompt_versions';
  ppv: 'prompt_versions';
};

const REQUEST_COLUMNS = {
  id: 'c.id',
  feature_id: 'c.feature_id',
  feature_name: 'f.name',
  feature_display_name: 'f.display_name',
  environment: 'c.environment',
  kind: 'c.kind',
  model_id: 'c.model_id',
  model_display_name: 'm.display_name',
  previous_model_display_name: 'pm.display_name',
  status: 'c.status',
  requested_by_kind: 'c.requested_by_kind',
  requested_by_id: 'c.requested_by_id',
  requested_by: 'c.requested_by',
  requested_at: 'c.requested_at',
  expires_at: 'c.expires_at',
  decided_by: 'c.decided_by',
  decided_at: 'c.decided_at',
  decision_note: 'c.decision_note',
  deployment_id: 'c.deployment_id',
  /** A rollout start asked for (issue 18): what it starts, in words, and the rollout once approved. */
  reason: 'c.reason',
  rollout_id: 'c.rollout_id',
  /** A prompt activation asked for: the version numbers (the model is then the one it is checked with). */
  prompt_version: 'pv.version',
  previous_prompt_version: 'ppv.version',
} as const satisfies ColumnMap<RequestJoin>;

/** A change request as the approvals page and the API list it: what it changes, named. */
export type ChangeRequestRow = Adjusted<
  Selected<RequestJoin, typeof REQUEST_COLUMNS>,
  { previous_model_display_name: string | null; prompt_version: number | null; previous_prompt_version: number | null }
>;

export interface ChangeRequestFilter {
  /** pending: waiting for a decision; decided: everything else. */
  state?: 'pending' | 'decided';
  featureId?: string;
  id?: string;
}

/** Change requests, the pending ones oldest first (first asked, first decided), the decided newest first. */
export async function changeRequests(db: Db, filter: ChangeRequestFilter, limit: number): Promise<ChangeRequestRow[]> {
  const q = db('change_requests as c')
    .join('ai_features as f', 'f.id', 'c.feature_id')
    .join('ai_models as m', 'm.id', 'c.model_id')
    .leftJoin('ai_models as pm', 'pm.id', 'c.previous_model_id')
    .leftJoin('prompt_versions as pv', 'pv.id', 'c.prompt_version_id')
    .leftJoin('prompt_versions as ppv', 'ppv.id', 'c.previous_prompt_version_id')
    .limit(limit)
    .select(columns(REQUEST_COLUMNS));
  if (filter.id) q.where('c.id', filter.id);
  if (filter.featureId) q.where('c.feature_id', filter.featureId);
  if (filter.state === 'pending') q.where('c.status', 'pending').orderBy('c.requested_at', 'asc');
  else {
    if (filter.state === 'decided') q.whereNot('c.status', 'pending');
    q.orderBy('c.requested_at', 'desc');
  }
  return q.orderBy('c.id');
}
