import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Db } from './knex.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

// Works from the sources (tsx) and from the build (dist/): migrations sit two levels up.
const ownExtension = path.extname(import.meta.filename);
export const migrationsDir = path.resolve(import.meta.dirname, '../../migrations');

/** Lists migrations/ by file name (timestamp first) and imports each one on demand. */
const source: Knex.MigrationSource<string> = {
  async getMigrations() {
    return fs
      .readdirSync(migrationsDir)
      .filter((f) => f.endsWith(ownExtension) && !f.endsWith('.d.ts'))
      .sort();
  },
  getMigrationName: (file) => path.basename(file, path.extname(file)),
  async getMigration(file) {
    return (await import(pathToFileURL(path.join(migrationsDir, file)).href)) as Migration;
  },
};

const config: Knex.MigratorConfig = { migrationSource: source, tableName: 'knex_migrations' };

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
  return applied;
}

/** The migrations of this code the database has not run yet, by name (none: the schema is current). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list(config)) as [unknown[], string[]];
  return pending.map((file) => source.getMigrationName(file));
}

export async function rollbackAll(db: Db): Promise<string[]> {
  const [, undone] = (await db.migrate.rollback(config, true)) as [number, string[]];
  return undone;
}
