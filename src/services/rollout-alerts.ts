import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { type Actor, recordAudit } from './audit.ts';

export interface RolloutDecision {
  action: 'advance' | 'hold' | 'pause' | 'resume' | 'rollback' | 'percent' | 'complete' | 'abort' | 'start';
  automatic: boolean;
  fromBp: number;
  toBp: number;
  explanation: string;
  evidence?: Record<string, unknown>;
}

/** Writes a line of the rollout's decision log and its audit row, in the caller's transaction. */
export async function recordRolloutDecision(trx: Db, actor: Actor, rollout: Row<'rollouts'>, d: RolloutDecision): Promise<void> {
  await trx('rollout_decisions').insert({
    rollout_id: rollout.id,
    action: d.action,
    automatic: d.automatic,
    from_bp: d.fromBp,
    to_bp: d.toBp,
    explanation: d.explanation,
    evidence: JSON.stringify(d.evidence ?? {}),
    decided_by: actor.label,
  });
  await recordAudit(trx, actor, {
    action: `rollout.${d.action}`,
    entityType: 'feature',
    entityId: rollout.feature_id,
    before: { rollout_id: rollout.id, percent_bp: d.fromBp },
    after: { rollout_id: rollout.id, percent_bp: d.toBp, environment: rollout.environment, explanation: d.explanation },
  });
}

/**
 * An automatic action of the guard (advance, pause, roll back): raises the `rollout_regression` alert.
 * Today it records the decision (decision log + audit); the alerting module (issue 17) is wired here at merge.
 */
export async function raiseRolloutAlert(trx: Db, rollout: Row<'rollouts'>, d: RolloutDecision): Promise<void> {
  await recordRolloutDecision(trx, { kind: 'system', label: 'rollout guard' }, rollout, d);
}
