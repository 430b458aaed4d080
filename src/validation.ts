import type { z } from 'zod';

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
