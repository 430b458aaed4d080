import crypto from 'node:crypto';
import { z } from 'zod';
import type { Principal } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { TOKEN_SCOPES } from '../domain.ts';
import { HttpError } from '../http/errors.ts';
import { CONTROL_MESSAGE, withoutControlCharacters } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';

export const newApiKeySchema = z.object({
  name: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(100, 'must be at most 100 characters')
    .refine(withoutControlCharacters, CONTROL_MESSAGE),
  scope: z.enum(TOKEN_SCOPES, { message: `must be one of ${TOKEN_SCOPES.join(', ')}` }),
});

/** What is ever read back of a key: never its hash. */
const KEY_COLUMNS = ['id', 'name', 'prefix', 'scope', 'created_by', 'created_at', 'last_used_at', 'revoked_at'] as const;
export type ApiKeyRow = Pick<Row<'api_keys'>, (typeof KEY_COLUMNS)[number]>;

const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest();
// Writing last_used_at on every call would turn each read into a write; a minute is precise enough.
const LAST_USED_PRECISION_MS = 60_000;

/** Creates a key and returns it with the token, which is never stored and never shown again. */
export async function createApiKey(
  db: Db,
  actor: Actor,
  input: { name: string; scope: string },
): Promise<{ key: ApiKeyRow; token: string }> {
  const { name, scope } = newApiKeySchema.parse(input);
  const token = `sb_${crypto.randomBytes(32).toString('base64url')}`;
  return db.transaction(async (trx) => {
    const [key] = await trx('api_keys')
      .insert({ name, scope, token_hash: hashToken(token), prefix: token.slice(0, 10), created_by: actor.label })
      .returning(KEY_COLUMNS);
    await recordAudit(trx, actor, {
      action: 'api_key.created',
      entityType: 'api_key',
      entityId: key.id,
      after: { name, scope, prefix: key.prefix },
    });
    return { key, token };
  });
}

export async function listApiKeys(db: Db): Promise<ApiKeyRow[]> {
  return db('api_keys')
    .select(...KEY_COLUMNS)
    .orderByRaw('revoked_at IS NOT NULL, created_at DESC');
}

export async function revokeApiKey(db: Db, actor: Actor, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    const key = await trx('api_keys').where({ id }).forUpdate().first('id', 'name', 'revoked_at');
    if (!key) throw new HttpError(404, 'API key not found');
    if (key.revoked_at) return;
    await trx('api_keys').where({ id }).update({ revoked_at: trx.fn.now() });
    await recordAudit(trx, actor, { action: 'api_key.revoked', entityType: 'api_key', entityId: id, before: { name: key.name } });
  });
}

/** The principal for a bearer token, or null when it is unknown or revoked. */
export async function authenticateToken(db: Db, token: string): Promise<Principal | null> {
  if (!token.startsWith('sb_') || token.length > 100) return null;
  const key = await db('api_keys')
    .where({ token_hash: hashToken(token) })
    .whereNull('revoked_at')
    .first('id', 'name', 'scope', 'last_used_at');
  if (!key) return null;
  if (!key.last_used_at || Date.now() - key.last_used_at.getTime() > LAST_USED_PRECISION_MS) {
    await db('api_keys').where({ id: key.id }).update({ last_used_at: db.fn.now() });
  }
  return { kind: 'token', id: key.id, label: `token:${key.name}`, scope: key.scope };
}
