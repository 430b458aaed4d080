import type { Knex } from 'knex';
import { loadSettings } from './src/config.ts';

/**
 * For the knex command line against DATABASE_URL (e.g. `npx tsx node_modules/.bin/knex migrate:status`).
 * The app migrates by itself on start and in `npm run db:migrate`, in embedded mode too.
 */
const config: Knex.Config = {
  client: 'pg',
  connection: loadSettings().databaseUrl,
  migrations: { directory: './migrations', extension: 'ts', loadExtensions: ['.ts'], tableName: 'knex_migrations' },
};

export default config;
