import { type Environment, type FeatureStatus, isUuid, type ModelType } from '../../domain.ts';
import type { Db } from '../knex.ts';

export interface FeatureRow {
  id: string;
  name: string;
  display_name: string;
  description: string;
  status: FeatureStatus;
  required_model_type: ModelType;
  error_rate_threshold: number;
  latency_threshold_ms: number;
  monthly_budget_usd: number | null;
  created_at: Date;
}

export interface ActiveAssignmentRow {
  feature_id: string;
  environment: Environment;
  model_id: string;
  model_name: string;
  model_display_name: string;
  provider_name: string;
  provider_display_name: string;
  assigned_at: Date;
}

export async function listFeatures(db: Db): Promise<FeatureRow[]> {
  return db('ai_features').select('*').orderBy('created_at').orderBy('name');
}

/** A feature by uuid or by slug. */
export async function findFeature(db: Db, idOrName: string): Promise<FeatureRow | undefined> {
  return db('ai_features')
    .where(isUuid(idOrName) ? { id: idOrName } : { name: idOrName })
    .first();
}

/** The model serving each feature in each environment right now. */
export async function activeAssignments(db: Db): Promise<ActiveAssignmentRow[]> {
  return db('feature_model_assignments as a')
    .join('ai_models as m', 'm.id', 'a.model_id')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .where('a.is_active', true)
    .select(
      'a.feature_id',
      'a.environment',
      'a.model_id',
      'a.assigned_at',
      'm.name as model_name',
      'm.display_name as model_display_name',
      'p.name as provider_name',
      'p.display_name as provider_display_name',
    );
}

export type FeatureWithAssignments = FeatureRow & { assignments: Partial<Record<Environment, ActiveAssignmentRow>> };

/** Puts each feature's active assignments beside it, keyed by environment. */
export function withAssignments(features: FeatureRow[], assignments: ActiveAssignmentRow[]): FeatureWithAssignments[] {
  return features.map((f) => ({
    ...f,
    assignments: Object.fromEntries(assignments.filter((a) => a.feature_id === f.id).map((a) => [a.environment, a])),
  }));
}

export interface AssignmentHistoryRow {
  id: string;
  model_id: string;
  environment: Environment;
  model_display_name: string;
  provider_display_name: string;
  is_active: boolean;
  assigned_at: Date;
  assigned_by: string;
  deactivated_at: Date | null;
}

/** Every model a feature has used, newest first. */
export async function assignmentHistory(db: Db, featureId: string): Promise<AssignmentHistoryRow[]> {
  return db('feature_model_assignments as a')
    .join('ai_models as m', 'm.id', 'a.model_id')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .where('a.feature_id', featureId)
    .orderBy('a.assigned_at', 'desc')
    .select(
      'a.id',
      'a.model_id',
      'a.environment',
      'm.display_name as model_display_name',
      'p.display_name as provider_display_name',
      'a.is_active',
      'a.assigned_at',
      'a.assigned_by',
      'a.deactivated_at',
    );
}

/** One of a feature's assignments (named by the feature's slug), for a rollback. */
export async function findAssignment(
  db: Db,
  featureName: string,
  id: string,
): Promise<{ model_id: string; environment: Environment } | undefined> {
  return db('feature_model_assignments as a')
    .join('ai_features as f', 'f.id', 'a.feature_id')
    .where({ 'a.id': id, 'f.name': featureName })
    .first('a.model_id', 'a.environment');
}
