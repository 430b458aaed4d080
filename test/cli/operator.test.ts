import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/knex.ts';
import { databaseUrl } from '../setup/app.ts';
import { suffix } from '../setup/factories.ts';

const run = promisify(execFile);
const tsx = path.resolve('node_modules/.bin/tsx');
const db = createDb(databaseUrl(), 2);
afterAll(() => db.destroy());

/** Runs an operator command as `npm run` does, against the test database. */
async function cli(script: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(tsx, [`src/cli/${script}.ts`, ...args], {
      env: { ...process.env, DATABASE_URL: databaseUrl(), SEED_DEMO: '0', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npm run token:create', () => {
  it('when given a name and scope, then it prints the token alone on its last line and stores only its hash', async () => {
    const name = `cli ${suffix()}`;
    const { code, stdout } = await cli('token-create', ['--name', name, '--scope', 'ingest']);
    expect(code).toBe(0);
    const last = stdout.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    const row = await db('api_keys').where({ name }).first();
    expect(row).toMatchObject({ scope: 'ingest', prefix: last.slice(0, 10), created_by: 'cli' });
  });

  it('when the scope is unknown, then it says so, shows the usage and exits non-zero', async () => {
    const { code, stderr } = await cli('token-create', ['--name', 'x', '--scope', 'root']);
    expect(code).toBe(2);
    expect(stderr).toContain('--scope must be one of ingest, read, admin');
    expect(stderr).toContain('Usage: npm run token:create');
  });
});

describe('npm run admin:create', () => {
  it('when given an email and a password, then the user can be found with the role asked for', async () => {
    const email = `ops-${suffix()}@example.test`;
    const { code, stdout } = await cli('admin-create', ['--email', email, '--password', 'a-long-enough-password', '--role', 'viewer']);
    expect(code).toBe(0);
    expect(stdout).toContain(`Created viewer ${email}`);
    expect(await db('users').where({ email }).first('role')).toEqual({ role: 'viewer' });
  });

  it('when the input is bad, then one clear line and a non-zero exit, and no user', async () => {
    const email = `short-${suffix()}@example.test`;
    const short = await cli('admin-create', ['--email', email, '--password', 'short']);
    expect(short.code).not.toBe(0);
    expect(short.stderr.trim()).toBe('password must be at least 12 characters');
    const unknownFlag = await cli('admin-create', ['--mail', email]);
    expect(unknownFlag.code).toBe(2);
    const duplicate = await cli('admin-create', ['--email', email.toUpperCase(), '--password', 'a-long-enough-password']);
    expect(duplicate.code).toBe(0);
    const again = await cli('admin-create', ['--email', email, '--password', 'a-long-enough-password']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    expect(await db('users').whereRaw('lower(email) = ?', [email]).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('when the configuration is invalid, then one clear line and exit 1', async () => {
    const { code, stderr } = await cli('admin-create', ['--email', 'a@b.c', '--password', 'x'], {
      DATABASE_URL: 'mysql://nope',
      PORT: '3000',
    });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('Invalid configuration: DATABASE_URL must start with postgres:// or postgresql://');
  });
});

describe('npm run db:migrate', () => {
  it('when the database is already migrated, then it says the schema is up to date', async () => {
    const { code, stdout } = await cli('db-migrate', []);
    expect(code).toBe(0);
    expect(stdout).toContain('Database schema is up to date (0 migrations applied');
  });
});

describe('npm run simulate', () => {
  it('when no server answers at the URL, then it says how to start one and exits non-zero', async () => {
    const { code, stderr } = await cli('simulate', ['--url', 'http://127.0.0.1:9', '--seconds', '1']);
    expect(code).toBe(2);
    expect(stderr).toContain('No Switchboard server answers at http://127.0.0.1:9');
  });

  it('when the rate is out of bounds, then it refuses', async () => {
    const { code, stderr } = await cli('simulate', ['--rate', '0']);
    expect(code).toBe(2);
    expect(stderr).toContain('--rate must be a whole number of events per second from 1 to 1000');
  });
});

describe('npm run rollup', () => {
  it('when --from comes without --rebuild, then it refuses with the usage', async () => {
    const { code, stderr } = await cli('rollup', ['--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z']);
    expect(code).toBe(2);
    expect(stderr).toContain('--from and --to go with --rebuild');
  });
});
