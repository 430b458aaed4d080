import type { Principal } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';

export type Actor = Principal | { kind: 'system'; label: string };

export interface AuditEntry {
  action: string;
  entityType: string;
  entityId?: string | null;
  before?: unknown;
  after?: unknown;
}

/** Appends one entry to the audit log; run it inside the transaction that makes the change. */
export async function recordAudit(db: Db, actor: Actor, entry: AuditEntry): Promise<void> {
  await db('audit_log').insert({
    // The moment of writing, not the transaction's start: entries written after waiting on a lock stay in order.
    occurred_at: db.raw('clock_timestamp()'),
    actor_type: actor.kind,
    actor_id: actor.kind === 'system' ? null : actor.id,
    actor_label: actor.label,
    action: entry.action,
    entity_type: entry.entityType,
    entity_id: entry.entityId ?? null,
    before: entry.before === undefined ? null : JSON.stringify(entry.before),
    after: entry.after === undefined ? null : JSON.stringify(entry.after),
  });
}
