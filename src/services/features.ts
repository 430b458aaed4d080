import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { HttpError } from '../http/errors.ts';
import { CONTROL_MESSAGE, displayNameField, fieldErrors, slugField, withoutControlCharacters } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';

/** The kinds of model a feature can require (and a model can be). */
export const MODEL_TYPES = ['llm', 'vision', 'embedding'] as const;

export const newFeatureSchema = z.object({
  name: slugField,
  display_name: displayNameField,
  description: z.string().trim().max(2000, 'must be at most 2000 characters').refine(withoutControlCharacters, CONTROL_MESSAGE).default(''),
  required_model_type: z.enum(MODEL_TYPES, { message: `must be one of ${MODEL_TYPES.join(', ')}` }),
});

export async function createFeature(db: Db, actor: Actor, input: unknown): Promise<FeatureRow> {
  const parsed = newFeatureSchema.safeParse(input);
  if (!parsed.success) throw new HttpError(422, 'Invalid feature', fieldErrors(parsed.error));
  return db.transaction(async (trx) => {
    // ON CONFLICT keeps a race between two creators a clean 409 instead of a unique-violation 500.
    const [feature] = await trx('ai_features').insert(parsed.data).onConflict('name').ignore().returning('*');
    if (!feature) throw new HttpError(409, `A feature named ${parsed.data.name} already exists`, { name: 'is already taken' });
    await recordAudit(trx, actor, { action: 'feature.created', entityType: 'feature', entityId: feature.id, after: parsed.data });
    return feature as FeatureRow;
  });
}
