import type { Environment } from '../../domain.ts';
import type { Db } from '../knex.ts';

export interface ConfigFetch {
  api_key_id: string;
  token_name: string;
  environment: Environment;
  last_version: string;
  last_fetched_at: Date;
}

/** Notes that a token was just served a version of a feature's config: one row per (feature, environment, token), updated in place. */
export async function recordConfigFetch(
  db: Db,
  f: { apiKeyId: string; featureId: string; environment: Environment; version: string; at: Date },
): Promise<void> {
  await db('runtime_config_fetches')
    .insert({ api_key_id: f.apiKeyId, feature_id: f.featureId, environment: f.environment, last_version: f.version, last_fetched_at: f.at })
    .onConflict(['feature_id', 'environment', 'api_key_id'])
    .merge(['last_version', 'last_fetched_at']);
}

/** The tokens (not revoked) that fetched a feature's config, per environment, most recent first. */
export async function configFetches(db: Db, featureId: string): Promise<ConfigFetch[]> {
  return db('runtime_config_fetches as r')
    .join('api_keys as k', 'k.id', 'r.api_key_id')
    .where('r.feature_id', featureId)
    .whereNull('k.revoked_at')
    .orderBy('r.last_fetched_at', 'desc')
    .select('r.api_key_id', 'k.name as token_name', 'r.environment', 'r.last_version', 'r.last_fetched_at');
}
