import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { type ActiveAssignmentRow, activeAssignments } from '../db/queries/assignments.ts';
import { findModel, findModelsNamed, findProvider, type ModelRow } from '../db/queries/catalogue.ts';
import type { Row } from '../db/tables.ts';
import { MODEL_STATUSES, MODEL_TYPES, type ModelStatus } from '../domain.ts';
import { HttpError, notFound, Refusal } from '../http/errors.ts';
import {
  blankAsMissing,
  CONTROL_MESSAGE,
  displayNameField,
  fieldErrors,
  flagField,
  numberField,
  unchangeable,
  unknownFields,
  withoutControlCharacters,
} from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';

// Stored as numeric(12, 6): a finer price would be rounded away silently.
const atMostSixDecimals = (v: number) => Math.abs(v * 1e6 - Math.round(v * 1e6)) < 1e-6;
const priceField = numberField('must be a price in USD per 1k tokens').pipe(
  z.number().min(0, 'must be 0 or more').max(1000, 'must be at most 1000').refine(atMostSixDecimals, 'must have at most 6 decimal places'),
);
const contextWindowField = numberField('must be a whole number of tokens').pipe(
  z.number().int('must be a whole number of tokens').min(1, 'must be at least 1').max(100_000_000, 'must be at most 100000000'),
);
const statusField = z.enum(MODEL_STATUSES, { message: `must be one of ${MODEL_STATUSES.join(', ')}` });

const newModelSchema = z.object({
  provider: z.string({ message: 'is required' }).trim().min(1, 'is required'),
  name: z
    .string({ message: 'is required' })
    .trim()
    .min(1, 'is required')
    .max(200, 'must be at most 200 characters')
    .regex(/^\S+$/, 'must be the provider’s model id, without spaces')
    .refine(withoutControlCharacters, CONTROL_MESSAGE),
  display_name: displayNameField,
  model_type: z.enum(MODEL_TYPES, { message: `must be one of ${MODEL_TYPES.join(', ')}` }),
  status: z.preprocess(blankAsMissing, statusField.default('available')),
  input_price_per_1k: priceField,
  output_price_per_1k: priceField,
  context_window: z.preprocess(blankAsMissing, contextWindowField.optional()),
});

const modelChangeSchema = z.object({
  display_name: displayNameField.optional(),
  status: z.preprocess(blankAsMissing, statusField.optional()),
  input_price_per_1k: z.preprocess(blankAsMissing, priceField.optional()),
  output_price_per_1k: z.preprocess(blankAsMissing, priceField.optional()),
  /** null removes it (API); a blank form field leaves it as it is. */
  context_window: z.preprocess(blankAsMissing, contextWindowField.nullable().optional()),
  /** Goes ahead although the change takes a model out of service somewhere. */
  confirm: z.preprocess(blankAsMissing, flagField.optional()),
});

const invalid = (errors: Record<string, string>) => new Refusal(422, 'Invalid model', errors);

/** What Configure may change. */
export const EDITABLE_MODEL_FIELDS = ['display_name', 'status', 'input_price_per_1k', 'output_price_per_1k', 'context_window'] as const;
type Editable = Pick<Row<'ai_models'>, (typeof EDITABLE_MODEL_FIELDS)[number]>;

const pick = <T, K extends keyof T>(o: T, keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
/** What a model looks like in the audit log. */
const audited = (m: Editable) => pick(m, EDITABLE_MODEL_FIELDS);

/** Where a change takes something out of service, as a refusal names it (and the API's details.affected). */
export type AffectedAssignment = Pick<ActiveAssignmentRow, 'feature_name' | 'feature_display_name' | 'environment'>;
export const affectedOf = (rows: ActiveAssignmentRow[]): AffectedAssignment[] =>
  rows.map(({ feature_name, feature_display_name, environment }) => ({ feature_name, feature_display_name, environment }));

/**
 * Where a status change takes a model out of service: deprecated models may not serve production,
 * offline ones nowhere. The assignments stay (the product keeps calling the model until someone
 * changes it), so the admin is told which features to move.
 */
async function affectedBy(db: Db, modelId: string, status: ModelStatus): Promise<AffectedAssignment[]> {
  if (status !== 'deprecated' && status !== 'offline') return [];
  return affectedOf(await activeAssignments(db, { modelId, ...(status === 'deprecated' && { environment: 'production' }) }));
}

export const describeAffected = (affected: AffectedAssignment[]) =>
  affected.map((a) => `${a.feature_display_name} (${a.environment})`).join(', ');

/** Adds a model to a provider's catalogue. */
export async function createModel(db: Db, actor: Actor, input: unknown): Promise<ModelRow> {
  const parsed = newModelSchema.safeParse(input);
  if (!parsed.success) throw invalid(fieldErrors(parsed.error));
  const { provider: providerRef, ...fields } = parsed.data;
  const provider = await findProvider(db, providerRef);
  if (!provider) throw invalid({ provider: 'is not a provider on record' });
  if (provider.archived_at) throw invalid({ provider: 'is archived: unarchive it first' });
  return db.transaction(async (trx) => {
    const [row] = await trx('ai_models')
      .insert({ ...fields, provider_id: provider.id, context_window: fields.context_window ?? null })
      .onConflict(['provider_id', 'name'])
      .ignore()
      .returning('*');
    if (!row)
      throw new Refusal(409, `${provider.display_name} already has a model named ${fields.name}`, {
        name: 'is already taken for this provider',
      });
    await recordAudit(trx, actor, {
      action: 'model.created',
      entityType: 'model',
      entityId: row.id,
      after: { provider: provider.name, name: fields.name, model_type: fields.model_type, ...audited(row) },
    });
    return (await findModel(trx, row.id))!;
  });
}

/** A model by uuid, or by its name when only one provider has a model of that name (SPEC §6: `:id` or slug). */
async function findModelByRef(db: Db, ref: string): Promise<ModelRow> {
  const byId = await findModel(db, ref);
  if (byId) return byId;
  const named = await findModelsNamed(db, ref);
  if (named.length > 1)
    throw new HttpError(409, `${named.length} providers have a model named ${ref}: use its id`, {
      candidates: named.map((m) => ({ id: m.id, provider: m.provider_name })),
    });
  if (!named.length) throw notFound('Model');
  return named[0];
}

export interface ModelUpdate {
  model: ModelRow;
  /** Assignments the change took out of service (only after confirmation). */
  affected: AffectedAssignment[];
}

/**
 * Edits a model's display name, status, prices or context window. Deprecating or taking offline a
 * model that serves somewhere it then may not is refused with 409 and the features affected unless
 * `confirm` is set. Name, provider and type identify the model and cannot change.
 */
export async function updateModel(db: Db, actor: Actor, id: string, input: unknown): Promise<ModelUpdate> {
  const body = (input ?? {}) as Record<string, unknown>;
  const parsed = modelChangeSchema.safeParse(body);
  return db.transaction(async (trx) => {
    const found = await findModelByRef(trx, id);
    const current = await trx('ai_models').where('id', found.id).forUpdate().first();
    if (!current) throw notFound('Model');
    const fixed = {
      ...unknownFields(body, [...Object.keys(modelChangeSchema.shape), 'name', 'model_type', 'provider']),
      ...unchangeable(body, current, ['name', 'model_type']),
    };
    if (blankAsMissing(body.provider) !== undefined && body.provider !== found.provider_name && body.provider !== found.provider_id)
      fixed.provider = 'cannot be changed once created';
    if (!parsed.success || Object.keys(fixed).length) throw invalid({ ...fixed, ...(parsed.success ? {} : fieldErrors(parsed.error)) });
    const { confirm, ...change } = parsed.data;
    const affected = change.status && change.status !== current.status ? await affectedBy(trx, current.id, change.status) : [];
    if (affected.length && !confirm) {
      const message = `${current.display_name} would become ${change.status} while it serves ${describeAffected(affected)}. Move those features to another model first, or confirm the change.`;
      throw new Refusal(409, message, {}, { affected, confirm_required: true });
    }
    const changed = EDITABLE_MODEL_FIELDS.filter((k) => change[k] !== undefined && String(change[k]) !== String(current[k]));
    if (!changed.length) return { model: found, affected: [] }; // nothing to write or to audit
    const [row] = await trx('ai_models')
      .where('id', current.id)
      .update({ ...pick(change, changed), updated_at: trx.fn.now() })
      .returning('*');
    await recordAudit(trx, actor, {
      action: 'model.updated',
      entityType: 'model',
      entityId: current.id,
      before: audited(current),
      after: { ...audited(row), ...(affected.length && { affected }) },
    });
    return { model: (await findModel(trx, current.id))!, affected };
  });
}
