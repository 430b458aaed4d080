import type { Db } from '../src/db/knex.ts';
import { FEATURES, MODELS, PROVIDERS } from './reference-data.ts';

/**
 * Inserts the reference features, providers and models that are missing. Rows that exist are
 * left as they are, so an admin's edits survive every start. Returns how many rows it added.
 */
export async function seedReference(db: Db): Promise<number> {
  return db.transaction(async (trx) => {
    const features = await trx('ai_features')
      .insert([...FEATURES])
      .onConflict('name')
      .ignore()
      .returning('id');
    const providers = await trx('ai_providers')
      .insert([...PROVIDERS])
      .onConflict('name')
      .ignore()
      .returning('id');
    const providerIds = new Map((await trx('ai_providers').select('id', 'name')).map((p) => [p.name, p.id]));
    const providerId = (name: string) => providerIds.get(name) ?? fail(`provider ${name} is missing`);
    const models = await trx('ai_models')
      .insert(MODELS.map(({ provider, ...m }) => ({ ...m, provider_id: providerId(provider) })))
      .onConflict(['provider_id', 'name'])
      .ignore()
      .returning('id');
    return features.length + providers.length + models.length;
  });
}

function fail(what: string): never {
  throw new Error(`seedReference: ${what}`);
}
