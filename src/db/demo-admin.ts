import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { countUsers, createUser } from '../services/users.ts';
import type { Db } from './knex.ts';

const SYSTEM = { kind: 'system', label: 'startup' } as const;
export const DEMO_ADMIN_EMAIL = 'admin@switchboard.local';

/**
 * On a first embedded start there is nobody to sign in as: create an admin with a random password,
 * keep the credentials in DATA_DIR/demo-admin.txt (mode 0600) and return them to be printed once.
 */
export async function ensureDemoAdmin(db: Db, dataDir: string): Promise<{ email: string; password: string } | undefined> {
  if ((await countUsers(db)) > 0) return undefined;
  const password = crypto.randomBytes(12).toString('base64url');
  await createUser(db, SYSTEM, { email: DEMO_ADMIN_EMAIL, password, role: 'admin' });
  fs.writeFileSync(path.join(dataDir, 'demo-admin.txt'), `email: ${DEMO_ADMIN_EMAIL}\npassword: ${password}\n`, { mode: 0o600 });
  return { email: DEMO_ADMIN_EMAIL, password };
}
