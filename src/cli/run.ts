import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError, loadSettings, type Settings } from '../config.ts';
import type { Db } from '../db/knex.ts';
import { migrateLatest } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { HttpError } from '../http/errors.ts';

export class UsageError extends Error {}

export interface CliContext<V> {
  db: Db;
  /** The database's connection URL (the embedded cluster's when DATABASE_URL is unset). */
  url: string;
  settings: Settings;
  values: V;
  /** Migrations this run applied before the command. */
  applied: string[];
}

/**
 * Runs an operator command: parses its flags, opens the database (DATABASE_URL, or the embedded
 * cluster: the running server's, or started for the command), migrates it, and always prints one
 * clear line and exits non-zero on failure.
 */
export async function runCli<O extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: O,
  command: (ctx: CliContext<ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values']>) => Promise<void>,
): Promise<void> {
  let close = async () => {};
  let code = 0;
  try {
    const { values } = parseArgs({ options, strict: true, allowPositionals: false });
    const settings = loadSettings();
    const database = await openDatabase(settings, 'cli');
    close = database.close;
    const applied = await migrateLatest(database.db);
    await command({ db: database.db, url: database.url, settings, values, applied });
  } catch (err) {
    code = 1;
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\nUsage: ${usage}`);
      code = 2;
    } else if (err instanceof ConfigError || err instanceof HttpError) {
      console.error(err.message);
    } else {
      console.error(`Failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  } finally {
    await close().catch(() => {});
  }
  process.exit(code);
}
