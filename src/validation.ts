import type { z } from 'zod';

/** Field errors keyed by field name, for forms (shown inline) and the API (422 details). */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) out[String(issue.path[0] ?? 'body')] ??= issue.message;
  return out;
}
