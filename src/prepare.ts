import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { seedDemo } from '../seeds/demo.ts';
import { seedReference } from '../seeds/reference.ts';
import type { Settings } from './config.ts';
import type { Db } from './db/knex.ts';
import { migrateLatest } from './db/migrate.ts';
import { ensureUsagePartitions } from './db/partitions.ts';
import type { Logger } from './logger.ts';
import { countUsers, createUser } from './services/users.ts';

const SYSTEM = { kind: 'system', label: 'startup' } as const;
export const DEMO_ADMIN_EMAIL = 'admin@switchboard.local';

/** Everything a start does before serving: schema, partitions, reference data, demo data. */
export async function prepareDatabase(db: Db, settings: Settings, logger: Logger): Promise<void> {
  const { rows } = await db.raw('SHOW server_version_num');
  if (Number(rows[0].server_version_num) < 150000) throw new Error(`PostgreSQL 15 or newer is needed (this server is ${rows[0].server_version_num})`);
  const applied = await migrateLatest(db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  await ensureUsagePartitions(db, new Date());
  const added = await seedReference(db);
  if (added) logger.info({ added }, 'reference data seeded');
  if (settings.seedDemo) {
    const demo = await seedDemo(db);
    if (demo.seeded) logger.info(demo, 'demo history seeded');
    if (demo.skipped) logger.warn(`demo history not seeded: ${demo.skipped}`);
  }
}

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
