import { createDb, type Db } from '../../src/db/knex.ts';
import { suffix } from './factories.ts';
import { databaseUrl } from './app.ts';

/** An empty database of its own on the test server, dropped afterwards. */
export async function withScratchDatabase<T>(fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  const name = `sb_scratch_${suffix()}`;
  const url = new URL(databaseUrl());
  const admin = createDb(databaseUrl(), 1);
  await admin.raw(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), 4);
  try {
    return await fn(db, url.toString());
  } finally {
    await db.destroy();
    await admin.raw(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.destroy();
  }
}
