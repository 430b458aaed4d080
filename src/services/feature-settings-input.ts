import { z } from 'zod';
import type { FeatureRow } from '../db/queries/features.ts';
import { FEATURE_STATUSES, MODEL_TYPES, OVER_BUDGET_ACTIONS } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { CONTROL_MESSAGE, descriptionField, displayNameField, unknownFields, withoutControlCharacters } from '../http/validation.ts';
import { offsetMinutes } from '../metrics/time-zone.ts';

// What a change to a feature's settings and kill switch may hold, field by field (SPEC §10.3): the
// Settings tab's forms send flat fields, the API nests the settings; both end here.

/** The fields of the feature itself and of its kill switch. */
const FEATURE_FIELDS = ['display_name', 'description', 'required_model_type', 'status', 'status_reason', 'restore_at'] as const;
/** The fields the API nests under `settings`. */
const SETTINGS_FIELDS = [
  'error_rate_threshold',
  'latency_threshold_ms',
  'monthly_budget_usd',
  'over_budget_action',
  'min_eval_pass_rate',
] as const;
export const EDITABLE = [...FEATURE_FIELDS, ...SETTINGS_FIELDS];
export type Field = (typeof EDITABLE)[number];

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
export type Editable = Pick<FeatureRow, Field>;

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

/** What a change may hold, each field optional (missing: unchanged); a form's local restore time is read in `timeZone`. */
export function changeSchema(timeZone: string) {
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

export const invalid = (errors: Record<string, string>) =>
  new Refusal(422, `Invalid feature settings: ${Object.keys(errors).join(', ')}`, errors);

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
