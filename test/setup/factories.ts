import crypto from 'node:crypto';
import type { Role } from '../../src/auth/principal.ts';
import type { Db } from '../../src/db/knex.ts';
import type { TokenScope } from '../../src/domain.ts';
import { createApiKey } from '../../src/services/api-keys.ts';
import { createUser } from '../../src/services/users.ts';

const SYSTEM = { kind: 'system', label: 'test' } as const;
export const suffix = () => crypto.randomBytes(4).toString('hex');

export async function makeUser(db: Db, role: Role = 'admin') {
  const email = `${role}-${suffix()}@example.test`;
  const password = `pw-${suffix()}-${suffix()}`;
  const user = await createUser(db, SYSTEM, { email, password, role });
  return { ...user, password };
}

export async function makeToken(db: Db, scope: TokenScope) {
  return createApiKey(db, SYSTEM, { name: `test ${scope} ${suffix()}`, scope });
}
