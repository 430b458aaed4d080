import type { Db } from '../db/knex.ts';
import { API_KEY_SCOPES, listApiKeys } from '../services/api-keys.ts';

/** The API keys page: every key, and the scopes a new one can have. */
export async function apiKeysPage(db: Db) {
  return { keys: await listApiKeys(db), scopes: API_KEY_SCOPES };
}
