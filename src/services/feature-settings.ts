import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { type ActiveAssignmentRow, activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { FEATURE_STATUSES, MODEL_TYPES, OVER_BUDGET_ACTIONS } from '../domain.ts';
import { notFound, Refusal } from '../http/errors.ts';
import {
  CONTROL_MESSAGE,
  descriptionField,
  displayNameField,
  fieldErrors,
  unknownFields,
  withoutControlCharacters,
} from '../http/validation.ts';
import { offsetMinutes } from '../metrics/time-zone.ts';
import { type Actor, recordAudit } from './audit.ts';

// A feature's settings and its kill switch (SPEC §10.3): one set of rules for the Settings tab's
// forms and for PATCH /api/platform/ai-management/features/:id.

/** The fields of the feature itself and of its kill switch. */
export const FEATURE_FIELDS = ['display_name', 'description', 'required_model_type', 'status', 'status_reason', 'restore_at'] as const;
/** The fields the API nests under `settings`. */
export const SETTINGS_FIELDS = [
  'error_rate_threshold',
  'latency_threshold_ms',
  'monthly_budget_usd',
  'over_budget_action',
  'min_eval_pass_rate',
] as const;
const EDITABLE = [...FEATURE_FIELDS, ...SETTINGS_FIELDS];
type Field = (typeof EDITABLE)[number];

/** How a changed field is named to the person who changed it. */
export const FIELD_LABELS: Record<Field, string> = {
  display_name: 'display name',
  description: 'description',
  required_model_type: 'required model type',
  status: 'status',
  status_reason: 'reason',
  restore_at: 'restore time',
  error_rate_threshold: 'error-rate threshold',
  latency_threshold_ms: 'latency threshold',
  monthly_budget_usd: 'monthly budget',
  over_budget_action: 'over-budget action',
  min_eval_pass_rate: 'minimum test-suite pass rate',
};
type Editable = Pick<FeatureRow, Field>;

const blankAsNull = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? null : v);
const hasPlaces = (v: number, places: number) => Math.abs(v * 10 ** places - Math.round(v * 10 ** places)) < 1e-6;

/** A number from a JSON body or a form field, within [min, max] (above min when `above`), to `places` decimals. */
const decimalField = (o: { min: number; max: number; above?: boolean; places: number; message: string }) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v.trim()) : v),
    z
      .number({ message: o.message })
      .refine((v) => Number.isFinite(v) && (o.above ? v > o.min : v >= o.min) && v <= o.max, o.message)
      .refine((v) => hasPlaces(v, o.places), o.places ? `must have at most ${o.places} decimal places` : 'must be a whole number'),
  );

const PERCENT_PLACES = 2;
const MAX_LATENCY_MS = 600_000;

/** A date and time: ISO 8601 with an offset, or a form's local `YYYY-MM-DDTHH:MM` read in the console's time zone. */
function restoreAtField(timeZone: string) {
  const message = 'must be a date and time (YYYY-MM-DDTHH:MM), or blank for none';
  return z.preprocess(
    blankAsNull,
    z
      .string({ message })
      .transform((v, ctx) => {
        const local = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v);
        const at = local ? new Date(`${v}Z`) : z.iso.datetime({ offset: true }).safeParse(v).success ? new Date(v) : undefined;
        if (!at || Number.isNaN(at.getTime())) {
          ctx.addIssue({ code: 'custom', message });
          return z.NEVER;
        }
        return local ? new Date(at.getTime() - offsetMinutes(timeZone, at) * 60_000) : at;
      })
      .nullable(),
  );
}

function changeSchema(timeZone: string) {
  const choice = <T extends readonly [string, ...string[]]>(values: T) =>
    z.enum(values, { message: `must be one of ${values.join(', ')}` }).optional();
  return z.object({
    display_name: displayNameField.optional(),
    description: descriptionField.optional(),
    required_model_type: choice(MODEL_TYPES),
    status: choice(FEATURE_STATUSES),
    status_reason: z
      .preprocess(
        blankAsNull,
        z
          .string({ message: 'must be text' })
          .trim()
          .max(500, 'must be at most 500 characters')
          .refine(withoutControlCharacters, CONTROL_MESSAGE)
          .nullable(),
      )
      .optional(),
    restore_at: restoreAtField(timeZone).optional(),
    error_rate_threshold: decimalField({
      min: 0,
      max: 100,
      above: true,
      places: PERCENT_PLACES,
      message: 'must be a percentage above 0 and at most 100',
    }).optional(),
    latency_threshold_ms: decimalField({
      min: 1,
      max: MAX_LATENCY_MS,
      places: 0,
      message: `must be a whole number of milliseconds from 1 to ${MAX_LATENCY_MS}`,
    }).optional(),
    monthly_budget_usd: z
      .preprocess(
        blankAsNull,
        decimalField({
          min: 0,
          max: 9_999_999_999.99,
          places: 2,
          message: 'must be an amount in USD, 0 or more (blank for no budget)',
        }).nullable(),
      )
      .optional(),
    over_budget_action: choice(OVER_BUDGET_ACTIONS),
    min_eval_pass_rate: z
      .preprocess(
        blankAsNull,
        decimalField({
          min: 0,
          max: 100,
          places: PERCENT_PLACES,
          message: 'must be a percentage from 0 to 100 (blank for no minimum)',
        }).nullable(),
      )
      .optional(),
  });
}

const invalid = (errors: Record<string, string>) => new Refusal(422, `Invalid feature settings: ${Object.keys(errors).join(', ')}`, errors);

/** The API's body (settings nested) as the forms' flat fields; unknown fields, at either level, are refused by name. */
export function flattenApiChange(body: unknown): Record<string, unknown> {
  const { settings = {}, ...top } = (body ?? {}) as Record<string, unknown>;
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw invalid({ settings: 'must be an object' });
  const nested = settings as Record<string, unknown>;
  const unknown = {
    ...unknownFields(top, [...FEATURE_FIELDS]),
    ...Object.fromEntries(Object.entries(unknownFields(nested, [...SETTINGS_FIELDS])).map(([k, v]) => [`settings.${k}`, v])),
  };
  if (Object.keys(unknown).length) throw invalid(unknown);
  return { ...top, ...nested };
}

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

export interface SettingsOptions {
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
