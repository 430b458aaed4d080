import { type Environment, isUuid } from '../../domain.ts';
import { type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';
import type { Row } from '../tables.ts';
import type { ActiveAssignmentRow } from './assignments.ts';

export type FeatureRow = Row<'ai_features'>;

/** The features in use, or all of them with `withArchived` (filters of history). */
export async function listFeatures(db: Db, { withArchived = false } = {}): Promise<FeatureRow[]> {
  const q = db('ai_features').select('*').orderBy('created_at').orderBy('name');
  return withArchived ? q : q.whereNull('archived_at');
}

/** A feature by uuid or by slug. */
export async function findFeature(db: Db, idOrName: string): Promise<FeatureRow | undefined> {
  return db('ai_features')
    .where(isUuid(idOrName) ? { id: idOrName } : { name: idOrName })
    .first();
}

export type FeatureWithAssignments = FeatureRow & { assignments: Partial<Record<Environment, ActiveAssignmentRow>> };

/**
 * Puts each feature's active assignments beside it, keyed by environment. The new field comes before the
 * row's in the literal (`{ assignments, ...f }`, not `{ ...f, assignments }`): V8 (Node 20) copies a row
 * and then adds to it on a slow path, ~3 µs for a 17-column row against 0.1–0.3 µs the other way round
 * (measured; per feature, and a page lists them all). Rows never hold the new fields' names, so the result is the same.
 */
export function withAssignments(features: FeatureRow[], assignments: ActiveAssignmentRow[]): FeatureWithAssignments[] {
  const byFeature = new Map<string, Partial<Record<Environment, ActiveAssignmentRow>>>();
  for (const a of assignments) {
    const of = byFeature.get(a.feature_id) ?? {};
    of[a.environment] = a;
    byFeature.set(a.feature_id, of);
  }
  return features.map((f) => ({ assignments: byFeature.get(f.id) ?? {}, ...f }));
}

type HistoryJoin = { a: 'feature_model_assignments'; m: 'ai_models'; p: 'ai_providers' };
const HISTORY_COLUMNS = {
  id: 'a.id',
  model_id: 'a.model_id',
  environment: 'a.environment',
  model_display_name: 'm.display_name',
  provider_display_name: 'p.display_name',
  is_active: 'a.is_active',
  assigned_at: 'a.assigned_at',
  assigned_by: 'a.assigned_by',
  deactivated_at: 'a.deactivated_at',
} as const satisfies ColumnMap<HistoryJoin>;

export type AssignmentHistoryRow = Selected<HistoryJoin, typeof HISTORY_COLUMNS>;

/** Every model a feature has used, newest first. */
export async function assignmentHistory(db: Db, featureId: string): Promise<AssignmentHistoryRow[]> {
  return db('feature_model_assignments as a')
    .join('ai_models as m', 'm.id', 'a.model_id')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .where('a.feature_id', featureId)
    .orderBy('a.assigned_at', 'desc')
    .select(columns(HISTORY_COLUMNS));
}

/** One of a feature's assignments (named by the feature's slug), for a rollback. */
export async function findAssignment(
  db: Db,
  featureName: string,
  id: string,
): Promise<Pick<Row<'feature_model_assignments'>, 'model_id' | 'environment'> | undefined> {
  return db('feature_model_assignments as a')
    .join('ai_features as f', 'f.id', 'a.feature_id')
    .where({ 'a.id': id, 'f.name': featureName })
    .first('a.model_id', 'a.environment');
}
