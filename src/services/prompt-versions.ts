import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import type { PromptParams } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { blankAsMissing, CONTROL_MESSAGE, fieldErrors, numberField, unknownFields, withoutControlCharacters } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';
import { contentHash, renderStrict, strayBraces, variablesOf } from './prompt-template.ts';

// Prompt versions (SPEC §10.1): immutable; saving makes version n+1, and saving content identical to
// an existing version (template, parameters, sample values) returns that version and writes nothing.

/** Templates up to 100 kB (the schema's limit, in characters). */
export const TEMPLATE_MAX = 100_000;
const TEMPERATURE = 'must be a number from 0 to 2';
const MAX_TOKENS = 'must be a whole number from 1 to 1,000,000';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The fields of a new version, flat (as the form has them): a field error names the form's field. */
const newVersionSchema = z
  .object({
    template: z
      .string({ message: 'is required' })
      .min(1, 'is required')
      .max(TEMPLATE_MAX, `must be at most ${TEMPLATE_MAX.toLocaleString('en')} characters (100 kB)`)
      .refine(withoutControlCharacters, CONTROL_MESSAGE)
      .superRefine((t, ctx) => {
        const line = strayBraces(t);
        if (line !== null) ctx.addIssue({ code: 'custom', message: `has a “{{” on line ${line} that is not a {{variable}} placeholder` });
      }),
    temperature: z.preprocess(blankAsMissing, numberField(TEMPERATURE).pipe(z.number().min(0, TEMPERATURE).max(2, TEMPERATURE)).optional()),
    max_tokens: z.preprocess(
      blankAsMissing,
      numberField(MAX_TOKENS).pipe(z.number().int(MAX_TOKENS).min(1, MAX_TOKENS).max(1_000_000, MAX_TOKENS)).optional(),
    ),
    stop: z
      .array(z.string().min(1, 'must not be blank').max(100, 'must be at most 100 characters each'), {
        message: 'must be a list of strings',
      })
      .max(4, 'takes at most 4 sequences')
      .optional(),
    sample_values: z
      .record(
        z.string().regex(NAME, 'must be keyed by variable names'),
        z.string({ message: 'must be text' }).max(10_000, 'must be at most 10,000 characters each'),
        { message: 'must be an object of variable names to text' },
      )
      .default({}),
    note: z
      .string({ message: 'must be text' })
      .trim()
      .max(2000, 'must be at most 2000 characters')
      .refine(withoutControlCharacters, CONTROL_MESSAGE)
      .default(''),
  })
  .superRefine((v, ctx) => {
    const used = new Set(variablesOf(v.template));
    const unused = Object.keys(v.sample_values).filter((k) => !used.has(k));
    if (unused.length)
      ctx.addIssue({
        code: 'custom',
        path: ['sample_values'],
        message: `has values for variables the template does not use: ${unused.join(', ')}`,
      });
  });

const FIELDS = ['template', 'temperature', 'max_tokens', 'stop', 'sample_values', 'note'];

export interface NewVersionFields {
  template?: unknown;
  temperature?: unknown;
  max_tokens?: unknown;
  stop?: unknown;
  sample_values?: unknown;
  note?: unknown;
}

/** The JSON API's body ({template, params?, sample_values?, note?}) as the flat fields. */
export function fieldsFromJson(body: Record<string, unknown>): NewVersionFields {
  const { params, ...rest } = body;
  const p = typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : {};
  return { ...rest, ...p };
}

/** The form's textareas: stop sequences one per line, sample values one `name = value` per line. */
export function fieldsFromForm(body: Record<string, unknown>): { fields: NewVersionFields; errors: Record<string, string> } {
  const { _csrf, stop, sample_values, template, ...rest } = body;
  const lines = (v: unknown) => (typeof v === 'string' ? v.split(/\r?\n/).filter((l) => l.trim() !== '') : []);
  const samples: Record<string, string> = {};
  const errors: Record<string, string> = {};
  lines(sample_values).forEach((line, i) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s?(.*)$/.exec(line);
    if (m) samples[m[1]] = m[2];
    else errors.sample_values ??= `line ${i + 1} must read name = value`;
  });
  const stops = lines(stop);
  // Browsers send a textarea's line breaks as CRLF; the API's templates have LF.
  const lf = typeof template === 'string' ? template.replace(/\r\n?/g, '\n') : template;
  return { fields: { ...rest, template: lf, stop: stops.length ? stops : undefined, sample_values: samples }, errors };
}

/** A version's fields as the form shows them (the new-version form is prefilled with the latest); sample values in the template's order. */
export const formValuesOf = (v: Pick<Row<'prompt_versions'>, 'template' | 'params' | 'sample_values' | 'variables'>) => ({
  template: v.template,
  temperature: v.params.temperature ?? '',
  max_tokens: v.params.max_tokens ?? '',
  stop: (v.params.stop ?? []).join('\n'),
  sample_values: v.variables
    .filter((k) => Object.hasOwn(v.sample_values, k))
    .map((k) => `${k} = ${v.sample_values[k]}`)
    .join('\n'),
  note: '',
});

export interface Saved {
  version: Row<'prompt_versions'>;
  /** False when identical content was already saved: that version is returned and nothing is written. */
  created: boolean;
}

/** A new version's fields validated (422 with field errors when not), its parameters and content hash. */
function parsedVersion(fields: NewVersionFields) {
  const unknown = unknownFields(fields as Record<string, unknown>, FIELDS);
  if (Object.keys(unknown).length) throw new Refusal(422, 'Invalid prompt version', unknown);
  const parsed = newVersionSchema.safeParse(fields);
  if (!parsed.success) throw new Refusal(422, 'Invalid prompt version', fieldErrors(parsed.error));
  const { template, temperature, max_tokens, stop, sample_values, note } = parsed.data;
  const params: PromptParams = { temperature, max_tokens, stop };
  for (const k of Object.keys(params) as (keyof PromptParams)[]) if (params[k] === undefined) delete params[k];
  return { template, params, sample_values, note, hash: contentHash(template, params, sample_values) };
}

/** What a version would be, written nowhere: its variables, each with its sample value, and the template rendered strictly. */
export function previewPromptVersion(fields: NewVersionFields) {
  const { template, sample_values } = parsedVersion(fields);
  const variables = variablesOf(template).map((name) => ({ name, value: Object.hasOwn(sample_values, name) ? sample_values[name] : null }));
  return { variables, rendered: renderStrict(template, sample_values) };
}
export type PromptPreview = ReturnType<typeof previewPromptVersion>;

/** Saves a new version of a feature's prompt (422 with field errors, nothing written, when invalid); audited. */
export async function savePromptVersion(db: Db, actor: Actor, feature: FeatureRow, fields: NewVersionFields): Promise<Saved> {
  const { template, params, sample_values, note, hash } = parsedVersion(fields);
  return db.transaction(async (trx) => {
    // The feature locked: two saves number their versions one after the other.
    await trx('ai_features').where({ id: feature.id }).forUpdate().first('id');
    const same = await trx('prompt_versions').where({ feature_id: feature.id, content_hash: hash }).orderBy('version', 'desc').first();
    if (same) return { version: same, created: false };
    const last = await trx('prompt_versions').where({ feature_id: feature.id }).max<{ max: number | null }>('version as max').first();
    const [version] = await trx('prompt_versions')
      .insert({
        feature_id: feature.id,
        version: (last?.max ?? 0) + 1,
        template,
        params: JSON.stringify(params),
        sample_values: JSON.stringify(sample_values),
        variables: variablesOf(template),
        content_hash: hash,
        notes: note,
        created_by: actor.label,
      })
      .returning('*');
    await recordAudit(trx, actor, {
      action: 'prompt_version.created',
      entityType: 'feature',
      entityId: feature.id,
      after: { prompt_version_id: version.id, version: version.version, variables: version.variables, content_hash: hash, note },
    });
    return { version, created: true };
  });
}
