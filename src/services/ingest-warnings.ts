/**
 * Warnings for fields of a usage event that the API does not know. They are ignored, and an event
 * with `user_id` instead of `end_user_id` was stored without its user while unique users read 0:
 * the answer now names such fields, with the field most likely meant.
 */

export interface IngestWarning {
  index: number;
  field: string;
  message: string;
}

/** Per batch: a sender that gets one field wrong in every event learns it from the first hundred. */
export const MAX_WARNINGS = 100;

// The names other usage APIs give to our fields.
const LIKELY_MEANT = new Map(
  Object.entries({
    end_user_id: ['user_id', 'user', 'userid', 'enduser_id', 'end_user', 'customer_id', 'uid'],
    response_time_ms: ['latency_ms', 'duration_ms', 'latency', 'duration', 'response_time', 'elapsed_ms', 'time_ms'],
    input_tokens: ['tokens_in', 'prompt_tokens', 'input_token_count', 'prompt_token_count'],
    output_tokens: ['tokens_out', 'completion_tokens', 'output_token_count', 'completion_token_count'],
    'input_tokens and output_tokens': ['total_tokens', 'tokens'],
    cost_usd: ['cost', 'price', 'cost_dollars', 'usd', 'amount'],
    environment: ['env', 'stage'],
    created_at: ['timestamp', 'time', 'ts', 'date', 'datetime', 'occurred_at', 'created'],
    event_id: ['id', 'request_id', 'idempotency_key'],
    feature: ['feature_name', 'feature_slug'],
    model: ['model_name', 'model_slug'],
    provider: ['provider_id', 'provider_name', 'vendor'],
    status: ['state', 'outcome', 'result'],
  }).flatMap(([meant, names]) => names.map((n) => [n, meant] as const)),
);

/** endUserId, End-User-ID and end_user_id look alike once squashed. */
const squash = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * A checker for events whose known fields are `known`: it adds a warning per unknown key of an
 * event to `out` (up to MAX_WARNINGS). The common case costs one Set lookup per key.
 */
export function unknownFieldChecker(known: Iterable<string>) {
  const fields = new Set(known);
  const bySquashed = new Map([...fields].map((f) => [squash(f), f]));
  const likelyMeant = (field: string) => LIKELY_MEANT.get(field) ?? bySquashed.get(squash(field)) ?? LIKELY_MEANT.get(squash(field));
  return (event: unknown, index: number, out: IngestWarning[]): void => {
    if (!event || typeof event !== 'object' || Array.isArray(event)) return;
    for (const field of Object.keys(event)) {
      if (fields.has(field) || out.length >= MAX_WARNINGS) continue;
      const shown = field.length > 100 ? `${field.slice(0, 100)}…` : field;
      const meant = likelyMeant(field);
      out.push({ index, field: shown, message: `unknown field ${shown} (${meant ? `did you mean ${meant}?` : 'ignored'})` });
    }
  };
}
