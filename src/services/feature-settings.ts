import type { Db } from '../db/knex.ts';
import { type ActiveAssignmentRow, activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { notFound } from '../http/errors.ts';
import { fieldErrors, unknownFields } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';
import { changeSchema, EDITABLE, type Editable, type Field, invalid } from './feature-settings-input.ts';

// A feature's settings and its kill switch (SPEC §10.3): one set of rules for the Settings tab's
// forms and for PATCH /api/platform/ai-management/features/:id.

/** How a stored value compares and is audited: numbers as numbers, times as ISO text. */
const comparable = (v: unknown) => (v instanceof Date ? v.toISOString() : typeof v === 'number' || v === null ? v : String(v));
const sameValue = (a: unknown, b: unknown) =>
  typeof a === 'number' || typeof b === 'number' ? a !== null && b !== null && Number(a) === Number(b) : comparable(a) === comparable(b);

/** The stored row with the change laid over it; a feature made active has no reason and no restore time. */
function nextState(current: FeatureRow, change: Partial<Editable>): Editable {
  const next = { ...current, ...change } as Editable;
  if (change.status === 'active' && current.status !== 'active') return { ...next, status_reason: null, restore_at: null };
  return next;
}

/** The rules between fields and against the stored state; field errors, empty when the change may go ahead. */
async function conflicts(db: Db, current: FeatureRow, change: Partial<Editable>, next: Editable, now: Date) {
  const errors: Record<string, string> = {};
  if (next.status === 'active') {
    if (next.status_reason !== null) errors.status_reason = 'can only be given while the feature is in maintenance or inactive';
    if (next.restore_at !== null) errors.restore_at = 'can only be set while the feature is in maintenance or inactive';
  } else if (next.status_reason === null) errors.status_reason = `is required to put the feature in ${next.status}`;
  if (change.restore_at && !sameValue(change.restore_at, current.restore_at) && change.restore_at.getTime() <= now.getTime())
    errors.restore_at = 'must be in the future';
  if (next.required_model_type !== current.required_model_type) {
    const others = (await activeAssignments(db, { featureId: current.id })).filter((a) => a.model_type !== next.required_model_type);
    if (others.length)
      errors.required_model_type = `cannot be ${next.required_model_type} while ${others
        .map((a) => `${a.model_display_name} (${a.model_type}) serves ${a.environment}`)
        .join(', ')}: assign ${next.required_model_type} models there first`;
  }
  return errors;
}

export type SettingsOutcome =
  | { kind: 'unchanged'; feature: FeatureRow }
  /** Turning off a feature that serves production waits for a confirmation naming what it serves where. */
  | { kind: 'confirm'; feature: FeatureRow; served: ActiveAssignmentRow[]; status: FeatureRow['status'] }
  | { kind: 'changed'; feature: FeatureRow; fields: Field[] };

interface SettingsOptions {
  now: Date;
  /** How a form's local date and time is read. */
  timeZone: string;
  /** The admin confirmed turning production off (the API needs no confirmation). */
  confirmed: boolean;
}

/**
 * Changes any of a feature's editable fields (a missing field stays as it is) in one transaction with
 * its audit row, holding the feature's row. Refusals are 422 with a message per field and write
 * nothing; a change that changes nothing writes nothing either.
 */
export async function updateFeatureSettings(db: Db, actor: Actor, featureId: string, input: unknown, o: SettingsOptions) {
  const body = (input ?? {}) as Record<string, unknown>;
  const parsed = changeSchema(o.timeZone).safeParse(body);
  const unknown = unknownFields(body, [...EDITABLE, 'confirm']);
  if (!parsed.success || Object.keys(unknown).length) throw invalid({ ...unknown, ...(parsed.success ? {} : fieldErrors(parsed.error)) });
  return db.transaction(async (trx): Promise<SettingsOutcome> => {
    const current = await trx('ai_features').where('id', featureId).forUpdate().first();
    if (!current) throw notFound('Feature');
    const change = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as Partial<Editable>;
    const next = nextState(current, change);
    const errors = await conflicts(trx, current, change, next, o.now);
    if (Object.keys(errors).length) throw invalid(errors);
    const fields = EDITABLE.filter((k) => !sameValue(next[k], current[k]));
    if (!fields.length) return { kind: 'unchanged', feature: current };
    if (fields.includes('status') && next.status !== 'active' && !o.confirmed) {
      const served = await activeAssignments(trx, { featureId: current.id });
      if (served.some((a) => a.environment === 'production')) return { kind: 'confirm', feature: current, served, status: next.status };
    }
    const values = Object.fromEntries(fields.map((k) => [k, next[k]]));
    const [feature] = await trx('ai_features')
      .where('id', current.id)
      .update({ ...values, updated_at: trx.fn.now() })
      .returning('*');
    await recordAudit(trx, actor, {
      action: 'feature.updated',
      entityType: 'feature',
      entityId: current.id,
      before: Object.fromEntries(fields.map((k) => [k, comparable(current[k])])),
      after: Object.fromEntries(fields.map((k) => [k, comparable(next[k])])),
    });
    return { kind: 'changed', feature, fields };
  });
}

const RESTORER = { kind: 'system', label: 'restore-status job' } as const;

/** Features whose automatic restore time has come are made active again, each audited (the restore-status job). */
export async function restoreDueFeatures(db: Db, now: Date): Promise<number> {
  return db.transaction(async (trx) => {
    const due = await trx('ai_features').whereNot('status', 'active').where('restore_at', '<=', now).forUpdate().skipLocked().select('*');
    for (const f of due) {
      await trx('ai_features')
        .where('id', f.id)
        .update({ status: 'active', status_reason: null, restore_at: null, updated_at: trx.fn.now() });
      await recordAudit(trx, RESTORER, {
        action: 'feature.status_restored',
        entityType: 'feature',
        entityId: f.id,
        before: { status: f.status, status_reason: f.status_reason, restore_at: comparable(f.restore_at) },
        after: { status: 'active', status_reason: null, restore_at: null },
      });
    }
    return due.length;
  });
}
