import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { MODEL_TYPES } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { descriptionField, displayNameField, fieldErrors, slugField } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';

export const newFeatureSchema = z.object({
  name: slugField,
  display_name: displayNameField,
  description: descriptionField.default(''),
  required_model_type: z.enum(MODEL_TYPES, { message: `must be one of ${MODEL_TYPES.join(', ')}` }),
});

export async function createFeature(db: Db, actor: Actor, input: unknown): Promise<FeatureRow> {
  const parsed = newFeatureSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'Invalid feature', fieldErrors(parsed.error));
  return db.transaction(async (trx) => {
    // ON CONFLICT keeps a race between two creators a clean 409 instead of a unique-violation 500.
    const [feature] = await trx('ai_features').insert(parsed.data).onConflict('name').ignore().returning('*');
    if (!feature) throw new Refusal(409, `A feature named ${parsed.data.name} already exists`, { name: 'is already taken' });
    await recordAudit(trx, actor, { action: 'feature.created', entityType: 'feature', entityId: feature.id, after: parsed.data });
    return feature;
  });
}
