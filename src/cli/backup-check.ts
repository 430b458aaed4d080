import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createDb, type Db } from '../db/knex.ts';
import { runCli, UsageError } from './run.ts';

// A backup that was never restored is a hope: this dumps the database with pg_dump (custom format),
// restores the dump into a new database on the same server with pg_restore, compares every table's
// row count and the rollups' totals, and drops the copy (docs/operations.md).
const run = promisify(execFile);

/** A PostgreSQL client program: from PG_BIN when set, else from PATH. */
const tool = (name: string) => (process.env.PG_BIN ? path.join(process.env.PG_BIN, name) : name);

async function tableCounts(db: Db): Promise<Map<string, number>> {
  const { rows } = await db.raw(`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`);
  const counts = new Map<string, number>();
  for (const { name } of rows as { name: string }[])
    counts.set(name, Number((await db.raw('SELECT count(*) AS n FROM ??', [name])).rows[0].n));
  return counts;
}

const totals = async (db: Db) =>
  (await db.raw('SELECT coalesce(sum(requests), 0)::bigint AS requests, coalesce(sum(cost_usd), 0) AS cost FROM usage_rollup_day')).rows[0];

await runCli('npm run db:backup-check -- [--keep FILE]', { keep: { type: 'string' } }, async ({ db, url, values }) => {
  const file = values.keep ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-backup-')), 'switchboard.dump');
  if (values.keep && fs.existsSync(values.keep)) throw new UsageError(`${values.keep} exists already`);
  const started = Date.now();
  try {
    await run(tool('pg_dump'), ['--format=custom', '--no-owner', `--file=${file}`, `--dbname=${url}`]);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT')
      throw new Error(
        'pg_dump is not installed: install the PostgreSQL client (apt-get install postgresql-client), or set PG_BIN to its directory',
      );
    throw err;
  }
  const dumped = Date.now();
  const copyName = `switchboard_restore_check_${Date.now()}`;
  await db.raw('CREATE DATABASE ??', [copyName]);
  const copyUrl = new URL(url);
  copyUrl.pathname = `/${copyName}`;
  const copy = createDb(copyUrl.toString(), 2);
  try {
    await run(tool('pg_restore'), ['--no-owner', '--exit-on-error', `--dbname=${copyUrl}`, file]);
    const restored = Date.now();
    const [want, got] = await Promise.all([tableCounts(db), tableCounts(copy)]);
    const differing = [...want]
      .filter(([name, n]) => got.get(name) !== n)
      .map(([name, n]) => `${name}: ${n} rows, restored ${got.get(name) ?? 'missing'}`);
    const [a, b] = await Promise.all([totals(db), totals(copy)]);
    if (String(a.requests) !== String(b.requests) || String(a.cost) !== String(b.cost))
      differing.push(`rollup totals: ${a.requests} requests $${a.cost}, restored ${b.requests} requests $${b.cost}`);
    if (differing.length) throw new Error(`The restored copy differs:\n  ${differing.join('\n  ')}`);
    const rows = [...want.values()].reduce((x, y) => x + y, 0);
    console.log(
      `Dumped ${(fs.statSync(file).size / 1e6).toFixed(1)} MB in ${((dumped - started) / 1000).toFixed(1)} s, restored in ${((restored - dumped) / 1000).toFixed(1)} s: ${want.size} tables, ${rows} rows and the rollup totals (${a.requests} requests, $${Number(a.cost).toFixed(2)}) identical.`,
    );
    if (values.keep) console.log(`The dump is kept at ${file}.`);
  } finally {
    await copy.destroy();
    await db.raw('DROP DATABASE IF EXISTS ?? WITH (FORCE)', [copyName]);
    if (!values.keep) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});
