import type { Db } from '../db/knex.ts';
import { TOKEN_SCOPES } from '../domain.ts';
import { listApiKeys } from '../services/api-keys.ts';

/** The API keys page: every key, and the scopes a new one can have. */
export async function apiKeysPage(db: Db) {
  return { keys: await listApiKeys(db), scopes: TOKEN_SCOPES };
}
