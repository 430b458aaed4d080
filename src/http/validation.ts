import { z } from 'zod';
import { isUuid } from '../domain.ts';

/** Field errors keyed by field name, for forms (shown inline) and the API (422 details). */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) out[String(issue.path[0] ?? 'body')] ??= issue.message;
  return out;
}

// PostgreSQL text cannot hold NUL, and names and descriptions have no use for other control
// characters (tabs and line breaks aside).
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
export const withoutControlCharacters = (value: string) => !CONTROL.test(value);
export const CONTROL_MESSAGE = 'must not contain control characters';

// Field rules shared by the forms and the JSON API (features, providers, models).

/** A blank form field means "not given". */
export const blankAsMissing = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const slugField = z
  .string({ message: 'is required' })
  .trim()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'must be lowercase letters, digits and dashes, start with a letter or digit, and be at most 63 characters',
  )
  // Pages and the API take an id or a slug: a slug shaped like an id could never be reached.
  .refine((v) => !isUuid(v), 'must not look like an id (a uuid)');

export const displayNameField = z
  .string({ message: 'is required' })
  .trim()
  .min(1, 'is required')
  .max(120, 'must be at most 120 characters')
  .refine(withoutControlCharacters, CONTROL_MESSAGE);

export const descriptionField = z
  .string({ message: 'must be text' })
  .trim()
  .max(2000, 'must be at most 2000 characters')
  .refine(withoutControlCharacters, CONTROL_MESSAGE);

/** A number from a JSON body or a form field (a numeric string). */
export const numberField = (message: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v.trim()) : v),
    z.number({ message }).refine(Number.isFinite, message),
  );

/** A form checkbox ("on", "yes", "true") or a JSON boolean. */
export const flagField = z.preprocess(
  (v) => (typeof v === 'string' ? ['on', 'yes', 'true', '1'].includes(v) : v),
  z.boolean({ message: 'must be true or false' }),
);

/** Fields that identify a record and cannot be edited: a clear refusal instead of silently ignoring them. */
export function unchangeable(input: Record<string, unknown>, current: Record<string, unknown>, fields: string[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const f of fields) {
    if (blankAsMissing(input[f]) !== undefined && String(input[f]).trim() !== String(current[f]))
      errors[f] = 'cannot be changed once created';
  }
  return errors;
}

/** Fields a change does not know, refused by name instead of silently ignored (form bodies carry _csrf). */
export function unknownFields(input: Record<string, unknown>, known: string[]): Record<string, string> {
  return Object.fromEntries(
    Object.keys(input)
      .filter((k) => !known.includes(k) && k !== '_csrf')
      .map((k) => [k, 'is not a field that can be set']),
  );
}
