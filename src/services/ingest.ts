import { z } from 'zod';
import { type ColumnMap, columns, type ModelJoin, type Selected } from '../db/columns.ts';
import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { ENVIRONMENTS, isUuid, USAGE_STATUSES } from '../domain.ts';
import { CONTROL_MESSAGE, withoutControlCharacters } from '../http/validation.ts';
import { type EventRow, INGEST_LOCK_TIMEOUT_MS, storeEvents } from './ingest-store.ts';
import { type IngestWarning, MAX_WARNINGS, unknownFieldChecker } from './ingest-warnings.ts';
import { VARIANTS, type VariantRow, variantField, variantWarnings } from './rollout-variant.ts';

export const MAX_EVENTS = 1000;

// Text stored as sent must be well-formed UTF-16: PostgreSQL would store a lone surrogate as U+FFFD,
// so two distinct ids would become one (the second a "duplicate" it is not). In a /u pattern a
// surrogate category matches only a lone surrogate (String.prototype.isWellFormed is ES2024).
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (value: string) => !LONE_SURROGATE.test(value);
const WELL_FORMED_MESSAGE = 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';

const createdAtField = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone' });

const eventSchema = z.object({
  event_id: z
    .string({ message: 'is required' })
    .min(1, 'is required')
    .max(200, 'must be at most 200 characters')
    .refine(withoutControlCharacters, CONTROL_MESSAGE)
    .refine(wellFormed, WELL_FORMED_MESSAGE),
  feature: z.string({ message: 'is required (slug or id)' }).min(1).max(100).refine(withoutControlCharacters, CONTROL_MESSAGE),
  model: z.string({ message: 'is required (name or id)' }).min(1).max(200).refine(withoutControlCharacters, CONTROL_MESSAGE),
  provider: z.string().min(1).max(100).refine(withoutControlCharacters, CONTROL_MESSAGE).optional(),
  environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` }).default('production'),
  end_user_id: z
    .string()
    .max(200, 'must be at most 200 characters')
    .refine(withoutControlCharacters, CONTROL_MESSAGE)
    .refine(wellFormed, WELL_FORMED_MESSAGE)
    .nullish(),
  status: z.enum(USAGE_STATUSES, { message: `must be one of ${USAGE_STATUSES.join(', ')}` }),
  response_time_ms: z
    .number({ message: 'must be a number of milliseconds' })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(3_600_000, 'must be at most 3600000'),
  input_tokens: z
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(100_000_000)
    .default(0),
  output_tokens: z
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(100_000_000)
    .default(0),
  cost_usd: z.number({ message: 'must be a number' }).min(0, 'must be 0 or more').max(100_000, 'must be at most 100000').optional(),
  created_at: createdAtField.optional(),
  // Judged by resolveVersion, never by the schema: a bad version must not cost the event.
  prompt_version: z.unknown().optional(),
  variant: variantField,
});

type Event = z.output<typeof eventSchema>;

/** An event as eventSchema judges it, feature_id and model_id read as aliases of feature and model. */
export const bySchema = (raw: unknown) =>
  eventSchema.safeParse(
    raw && typeof raw === 'object' && ('feature_id' in raw || 'model_id' in raw)
      ? { feature: (raw as Record<string, unknown>).feature_id, model: (raw as Record<string, unknown>).model_id, ...raw }
      : raw,
  );

const text = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max && withoutControlCharacters(v);
const whole = (v: unknown, max: number): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
const CREATED_AT = createdAtField._zod.pattern;
const environments: readonly unknown[] = ENVIRONMENTS;
const statuses: readonly unknown[] = USAGE_STATUSES;
const variants: readonly unknown[] = VARIANTS;

/**
 * The usual, valid event judged without walking eventSchema (the walk was a third of a batch's CPU
 * in Node): answers what eventSchema.safeParse would (feature_id and model_id read as aliases), or
 * undefined for anything it does not plainly accept, which bySchema then judges, so every error
 * message still comes from the schema. It must accept nothing the schema refuses:
 * test/metrics/ingest-fast-path.test.ts holds the two to each other.
 */
export function plainEvent(raw: unknown): Event | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
  const e = raw as Record<string, unknown>;
  const { event_id, provider, end_user_id, status, response_time_ms, cost_usd, created_at, variant } = e;
  const { environment = 'production', input_tokens = 0, output_tokens = 0 } = e;
  const feature = 'feature' in e ? e.feature : e.feature_id;
  const model = 'model' in e ? e.model : e.model_id;
  if (!text(event_id, 1, 200) || !wellFormed(event_id) || !text(feature, 1, 100) || !text(model, 1, 200)) return;
  if (provider !== undefined && !text(provider, 1, 100)) return;
  if (end_user_id !== undefined && end_user_id !== null && !(text(end_user_id, 0, 200) && wellFormed(end_user_id))) return;
  if (!environments.includes(environment) || !statuses.includes(status) || (variant !== undefined && !variants.includes(variant))) return;
  if (!whole(response_time_ms, 3_600_000) || !whole(input_tokens, 100_000_000) || !whole(output_tokens, 100_000_000)) return;
  if (cost_usd !== undefined && !(typeof cost_usd === 'number' && cost_usd >= 0 && cost_usd <= 100_000)) return;
  if (created_at !== undefined && !(typeof created_at === 'string' && CREATED_AT.test(created_at))) return;
  return {
    event_id,
    feature,
    model,
    provider,
    environment,
    end_user_id,
    status,
    response_time_ms,
    input_tokens,
    output_tokens,
    cost_usd,
    created_at,
    prompt_version: e.prompt_version,
    variant,
  } as Event;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: { index: number; error: string }[];
  /** Only when some event has fields this API does not know (ignored; the event is judged without them). */
  warnings?: IngestWarning[];
}

const MODEL_COLUMNS = {
  id: 'm.id',
  name: 'm.name',
  provider_id: 'm.provider_id',
  provider_name: 'p.name',
} as const satisfies ColumnMap<ModelJoin>;
const checkFields = unknownFieldChecker([...Object.keys(eventSchema.shape), 'feature_id', 'model_id']);

interface Catalogue {
  features: Map<string, { id: string; name: string }>;
  models: Selected<ModelJoin, typeof MODEL_COLUMNS>[];
  /** Every prompt version: by id, and by feature id and number (`${feature_id}:${version}`). */
  promptVersions: Map<string, Pick<Row<'prompt_versions'>, 'feature_id' | 'version'>>;
}

// The catalogue changes rarely; batches arrive many times a second. It is kept for a few seconds
// and read again at once when an event names something it does not know. Its age is measured on the
// ingest's clock (`now`), so a caller that gives one decides when it is stale.
const CATALOGUE_TTL_MS = 10_000;
const cached = new WeakMap<Db, { at: number; catalogue: Promise<Catalogue> }>();

function catalogueOf(db: Db, now: Date, fresh = false): Promise<Catalogue> {
  const hit = cached.get(db);
  if (hit && !fresh && now.getTime() >= hit.at && now.getTime() - hit.at < CATALOGUE_TTL_MS) return hit.catalogue;
  const catalogue = loadCatalogue(db);
  cached.set(db, { at: now.getTime(), catalogue });
  catalogue.catch(() => cached.delete(db));
  return catalogue;
}

async function loadCatalogue(db: Db): Promise<Catalogue> {
  const [features, models, versions]: [
    Pick<Row<'ai_features'>, 'id' | 'name'>[],
    Catalogue['models'],
    Pick<Row<'prompt_versions'>, 'id' | 'feature_id' | 'version'>[],
  ] = await Promise.all([
    db('ai_features').select('id', 'name'),
    db('ai_models as m').join('ai_providers as p', 'p.id', 'm.provider_id').select(columns(MODEL_COLUMNS)),
    db('prompt_versions').select('id', 'feature_id', 'version'),
  ]);
  return {
    features: new Map(
      features.flatMap((f) => [
        [f.id, f],
        [f.name, f],
      ]),
    ),
    models,
    promptVersions: new Map(versions.flatMap((v) => [[v.id, v] as const, [`${v.feature_id}:${v.version}`, v] as const])),
  };
}

/**
 * The prompt version an event names (SPEC §10.1): a version number of its feature's prompt, or the
 * id of one (stored as its number). Anything else is a warning and the event is stored without a
 * version: usage and cost must stay whole whatever the tag says. `unknown` when the catalogue may
 * just be older than the version.
 */
function resolveVersion(c: Catalogue, feature: { id: string; name: string }, value: unknown) {
  if (value === undefined || value === null) return { version: null };
  const byId = typeof value === 'string' && isUuid(value);
  const byNumber = Number.isInteger(value) && (value as number) >= 1;
  if (!byId && !byNumber)
    return { version: null, warning: 'prompt_version must be a version number (1 or more) or a version id (stored without a version)' };
  const found = c.promptVersions.get(byId ? value.toLowerCase() : `${feature.id}:${value}`);
  if (found?.feature_id === feature.id) return { version: found.version };
  const shown = JSON.stringify(value);
  if (found)
    return { version: null, warning: `prompt_version ${shown} is a version of another feature's prompt (stored without a version)` };
  return {
    version: null,
    unknown: true,
    warning: `prompt_version ${shown} is not a version of the ${feature.name} prompt (stored without a version)`,
  };
}

/** The model an event names: by id, or by name (with its provider when two providers share the name). */
function resolveModel(c: Catalogue, model: string, provider?: string) {
  const byId = isUuid(model);
  const wanted = byId ? model.toLowerCase() : model;
  const matches = c.models.filter((m) => (byId ? m.id : m.name) === wanted);
  const fitting = provider ? matches.filter((m) => m.provider_id === provider || m.provider_name === provider) : matches;
  if (fitting.length === 1) return fitting[0];
  if (fitting.length > 1) return `model ${model} is offered by several providers; name the provider or send the model id`;
  return provider && matches.length ? `model ${model} is not offered by provider ${provider}` : `unknown model ${model}`;
}

// PostgreSQL has no year 0: the first instant a timestamptz shares with a JavaScript Date written in ISO 8601.
const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
/**
 * A valid created_at already written as toISOString writes it (UTC, milliseconds; what clients
 * usually send): stored as sent, without formatting it again. (Its year is 0001 to 9999 by then.)
 */
const isCanonical = (iso: string) => iso.length === 24 && iso[19] === '.' && iso[23] === 'Z';

const describe = (issue: z.core.$ZodIssue) => `${issue.path.join('.') || 'event'} ${issue.message}`;

interface Batch {
  rows: EventRow[];
  rejected: IngestResult['rejected'];
  warnings: IngestWarning[];
  duplicates: number;
  /** Some event named a feature, model or prompt version this catalogue does not know (it may be newer). */
  unknownNames: boolean;
}

/** Each event validated on its own and resolved against the catalogue; repeats of an event_id dropped. */
function prepareBatch(events: unknown[], catalogue: Catalogue, now: Date): Batch {
  const batch: Batch = { rows: [], rejected: [], warnings: [], duplicates: 0, unknownNames: false };
  const seen = new Set<string>();
  const reject = (index: number, error: string, unknownName = false) => {
    batch.rejected.push({ index, error });
    batch.unknownNames ||= unknownName;
  };
  events.forEach((raw, index) => {
    checkFields(raw, index, batch.warnings);
    let e = plainEvent(raw);
    if (!e) {
      const parsed = bySchema(raw);
      if (!parsed.success) return reject(index, describe(parsed.error.issues[0]));
      e = parsed.data;
    }
    const feature = catalogue.features.get(isUuid(e.feature) ? e.feature.toLowerCase() : e.feature);
    if (!feature) return reject(index, `unknown feature ${e.feature}`, true);
    const model = resolveModel(catalogue, e.model, e.provider);
    if (typeof model === 'string') return reject(index, model, true);
    const createdAt = e.created_at ? Date.parse(e.created_at) : now.getTime();
    if (createdAt > now.getTime()) return reject(index, 'created_at is in the future');
    if (createdAt < EARLIEST) return reject(index, 'created_at is before the year 1 (UTC), which cannot be stored');
    if (seen.has(e.event_id)) return void batch.duplicates++;
    seen.add(e.event_id);
    const prompt = resolveVersion(catalogue, feature, e.prompt_version);
    batch.unknownNames ||= prompt.unknown === true;
    if (prompt.warning && batch.warnings.length < MAX_WARNINGS)
      batch.warnings.push({ index, field: 'prompt_version', message: prompt.warning });
    batch.rows.push({
      index,
      event_id: e.event_id,
      feature_id: feature.id,
      model_id: model.id,
      environment: e.environment,
      end_user_id: e.end_user_id ?? null,
      status: e.status,
      response_time_ms: e.response_time_ms,
      input_tokens: e.input_tokens,
      output_tokens: e.output_tokens,
      cost_usd: e.cost_usd ?? null,
      created_at: e.created_at && isCanonical(e.created_at) ? e.created_at : new Date(createdAt).toISOString(),
      prompt_version: prompt.version,
      ...(e.variant && { index, variant: e.variant }),
    });
  });
  return batch;
}

/**
 * Validates each event on its own, stores the valid ones (idempotent by event_id) and answers only
 * after the commit. A lock waited for longer than `lockTimeoutMs` fails the batch (503, retry).
 */
export async function ingestEvents(
  db: Db,
  events: unknown[],
  now = new Date(),
  lockTimeoutMs = INGEST_LOCK_TIMEOUT_MS,
): Promise<IngestResult> {
  let batch = prepareBatch(events, await catalogueOf(db, now), now);
  if (batch.unknownNames) batch = prepareBatch(events, await catalogueOf(db, now, true), now);
  const stored = batch.rows.length ? await storeEvents(db, batch.rows, lockTimeoutMs) : { accepted: 0, rejected: [] };
  // A refusal in the transaction (a deleted feature or model, a changed price) means the catalogue changed.
  if (stored.rejected.length) cached.delete(db);
  const rejected = stored.rejected.length ? [...batch.rejected, ...stored.rejected].sort((x, y) => x.index - y.index) : batch.rejected;
  const result = {
    accepted: stored.accepted,
    duplicates: batch.duplicates + batch.rows.length - stored.accepted - stored.rejected.length,
    rejected,
  };
  // An event refused in the transaction is not stored: no warning may say how it was stored.
  const refused = new Set(stored.rejected.map((r) => r.index));
  const kept = refused.size ? batch.rows.filter((r) => !refused.has(r.index)) : batch.rows;
  const warnings = [
    ...(refused.size ? batch.warnings.filter((w) => w.field !== 'prompt_version' || !refused.has(w.index)) : batch.warnings),
    ...(await variantWarnings(db, kept as VariantRow[])),
  ];
  return warnings.length ? { ...result, warnings: warnings.slice(0, MAX_WARNINGS) } : result;
}
