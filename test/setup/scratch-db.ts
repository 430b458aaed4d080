import { seedReference } from '../../seeds/reference.ts';
import { createDb, type Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { ensureUsagePartitions } from '../../src/db/partitions.ts';
import { databaseUrl } from './app.ts';
import { suffix } from './factories.ts';

/** An empty database of its own on the test server; `drop()` ends its connections and drops it. */
export async function scratchDatabase(label = 'scratch'): Promise<{ url: string; db: Db; drop: () => Promise<void> }> {
  const name = `sb_${label}_${suffix()}`;
  const server = createDb(databaseUrl(), 1);
  await server.raw(`CREATE DATABASE ${name}`);
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    db: createDb(url.toString(), 5),
    drop: async () => {
      await server.raw(`DROP DATABASE ${name} WITH (FORCE)`);
      await server.destroy();
    },
  };
}

/** An empty database of its own on the test server, dropped afterwards. */
export async function withScratchDatabase<T>(fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  const { url, db, drop } = await scratchDatabase();
  try {
    return await fn(db, url);
  } finally {
    await db.destroy();
    await drop();
  }
}

/**
 * A database of a test file's own on the test server, migrated, partitioned and with the reference
 * data, so totals over whole tables ("nothing written") hold while other files run. Drop it afterwards.
 */
export async function ownSeededDatabase(label: string): Promise<{ url: string; db: Db; drop: () => Promise<void> }> {
  const own = await scratchDatabase(label);
  await migrateLatest(own.db);
  await ensureUsagePartitions(own.db, new Date());
  await seedReference(own.db);
  return own;
}

/** Everything a refused catalogue change must leave alone, over whole tables of a database of a file's own. */
export async function catalogueSnapshot(db: Db) {
  const count = async (table: string) => Number((await db(table).count({ n: '*' }).first())!.n);
  return {
    providers: await db('ai_providers').orderBy('id').select('*'),
    models: await db('ai_models').orderBy('id').select('*'),
    audit: await count('audit_log'),
    health: await count('health_checks'),
    assignments: await db('feature_model_assignments').orderBy('id').select('*'),
    deployments: await count('deployments'),
  };
}
