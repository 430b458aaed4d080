import type { Db } from '../knex.ts';
import type { Row } from '../tables.ts';

const AUDIT_COLUMNS = ['id', 'occurred_at', 'actor_type', 'actor_label', 'action', 'entity_type', 'entity_id', 'before', 'after'] as const;
/** An audit entry as the log page lists it (before and after are the JSON the change stored). */
export type AuditRow = Pick<Row<'audit_log'>, (typeof AUDIT_COLUMNS)[number]>;

export interface AuditFilter {
  /** Entity type, exactly (feature, user, api_key, …). */
  entity?: string;
  /** Action prefix: "deployment." or "feature.created". */
  action?: string;
  /** Part of the actor's label, any case. */
  actor?: string;
  /** Only entries older than this id (the next page). */
  before?: number;
}

/** Audit entries newest first, filtered; one more than asked for tells whether there is a next page. */
export async function auditEntries(db: Db, filter: AuditFilter, limit: number): Promise<AuditRow[]> {
  const q = db('audit_log')
    .orderBy('id', 'desc')
    .limit(limit)
    .select(...AUDIT_COLUMNS);
  if (filter.entity) q.where('entity_type', filter.entity);
  if (filter.action) q.whereLike('action', `${filter.action.replace(/[\\%_]/g, '\\$&')}%`);
  if (filter.actor) q.whereILike('actor_label', `%${filter.actor.replace(/[\\%_]/g, '\\$&')}%`);
  if (filter.before) q.where('id', '<', filter.before);
  return q;
}

/** The entity types the log holds, for the filter. */
export async function auditEntityTypes(db: Db): Promise<string[]> {
  return db('audit_log').distinct('entity_type').orderBy('entity_type').pluck('entity_type');
}
