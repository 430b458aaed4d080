import type { Environment } from '../../domain.ts';
import { servingProblem } from '../../services/deployability.ts';
import { type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';
import { type LastProbeColumns, lastProbeOf, withLastProbe } from './probes.ts';

type AssignmentJoin = { a: 'feature_model_assignments'; f: 'ai_features'; m: 'ai_models'; p: 'ai_providers' };
const ASSIGNMENT_COLUMNS = {
  assignment_id: 'a.id',
  feature_id: 'a.feature_id',
  feature_name: 'f.name',
  feature_display_name: 'f.display_name',
  environment: 'a.environment',
  model_id: 'a.model_id',
  model_name: 'm.name',
  model_display_name: 'm.display_name',
  model_type: 'm.model_type',
  model_status: 'm.status',
  provider_id: 'm.provider_id',
  provider_name: 'p.name',
  provider_display_name: 'p.display_name',
  provider_kind: 'p.kind',
  provider_status: 'p.status',
  base_url: 'p.base_url',
  assigned_at: 'a.assigned_at',
  assigned_by: 'a.assigned_by',
  config_overrides: 'a.config_overrides',
} as const satisfies ColumnMap<AssignmentJoin>;

/**
 * A model serving a feature in an environment right now, with the names of all three, and why it
 * cannot answer there now (servingProblem: the rule of services/deployability.ts), null while it can.
 */
export type ActiveAssignmentRow = Selected<AssignmentJoin, typeof ASSIGNMENT_COLUMNS> & { serving_problem: string | null };

export interface AssignmentFilter {
  featureId?: string;
  modelId?: string;
  /** Through any of the provider's models. */
  providerId?: string;
  environment?: Environment;
}

/** The active assignments (at most one per feature and environment), by feature display name then environment. */
export async function activeAssignments(db: Db, filter: AssignmentFilter = {}): Promise<ActiveAssignmentRow[]> {
  const q = withLastProbe(
    db,
    db('feature_model_assignments as a')
      .join('ai_features as f', 'f.id', 'a.feature_id')
      .join('ai_models as m', 'm.id', 'a.model_id')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .where('a.is_active', true)
      .orderBy(['f.display_name', 'a.environment'])
      .select(...columns(ASSIGNMENT_COLUMNS), db.raw('p.api_key_last4 IS NOT NULL AS provider_has_key')),
  );
  if (filter.featureId) q.where('a.feature_id', filter.featureId);
  if (filter.modelId) q.where('a.model_id', filter.modelId);
  if (filter.providerId) q.where('m.provider_id', filter.providerId);
  if (filter.environment) q.where('a.environment', filter.environment);
  const rows: (Selected<AssignmentJoin, typeof ASSIGNMENT_COLUMNS> & LastProbeColumns & { provider_has_key: boolean })[] = await q;
  return rows.map((r) => {
    const problem = servingProblem(
      {
        id: r.model_id,
        display_name: r.model_display_name,
        status: r.model_status,
        provider_display_name: r.provider_display_name,
        provider_status: r.provider_status,
        provider_kind: r.provider_kind,
        provider_has_key: r.provider_has_key,
      },
      r.environment,
      lastProbeOf(r),
    );
    // The row's assignment columns copied one by one, not the rest of a destructuring: V8 (Node 20) makes
    // that on a slow path, ~3.5 µs a row against ~0.6 (the overview reads every feature's assignments).
    const a: Record<string, unknown> = { serving_problem: problem };
    for (const column of ASSIGNMENT_KEYS) a[column] = r[column];
    return a as ActiveAssignmentRow;
  });
}

const ASSIGNMENT_KEYS = Object.keys(ASSIGNMENT_COLUMNS) as (keyof typeof ASSIGNMENT_COLUMNS)[];
