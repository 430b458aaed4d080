import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { scratchDatabase } from '../setup/scratch-db.ts';

const exec = promisify(execFile);
const running: ChildProcess[] = [];

/** Starts the built server (`npm start` runs exactly this), waits until it listens and checks /healthz. */
async function startServer(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  // The server says so on stdout once it listens: wait for that line (or its exit), then ask /healthz.
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      output += d;
      if (output.includes('Switchboard is running at')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${output}`)));
  });
  child.stderr!.on('data', (d) => (output += d));
  await listening;
  const base = `http://127.0.0.1:${port}`;
  const health = await fetch(`${base}/healthz`);
  if (!health.ok) throw new Error(`server is not healthy (${health.status}): ${output}`);
  return { child, base, output: () => output };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

beforeAll(async () => {
  await exec('npm', ['run', 'build'], { timeout: 120_000 });
}, 180_000);
afterAll(() => running.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

describe('the built server with DATABASE_URL', () => {
  it('when started, then it serves health, the login page and the vendored assets, and stops cleanly on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-ext-'));
    // A database of its own: the server's jobs (test runs, rollups, probes) must not touch other files' rows.
    const own = await scratchDatabase('lifecycle');
    await own.db.destroy();
    const server = await startServer({ DATABASE_URL: own.url, SEED_DEMO: '0', DATA_DIR: dataDir });
    expect(await fetch(`${server.base}/healthz`).then((r) => r.json())).toEqual({ status: 'ok', db: 'ok' });
    expect((await fetch(`${server.base}/login`)).status).toBe(200);
    expect((await fetch(`${server.base}/static/vendor/htmx.min.js`)).status).toBe(200);
    expect((await fetch(`${server.base}/static/css/app.css`)).status).toBe(200);
    expect(await stop(server.child)).toBe(0);
    await own.drop();
  });

  it('when the configuration is invalid, then it prints one line and exits non-zero', async () => {
    const result = await exec(process.execPath, ['dist/src/server.js'], { env: { ...process.env, PORT: 'not-a-port' } }).catch((e) => e);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('Invalid configuration: PORT Invalid input: expected number, received NaN');
  });
});

describe('the built server in embedded mode', () => {
  it('when started twice, then data and the demo admin persist, the CLI attaches meanwhile, and PostgreSQL stops with the server', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-embedded-'));
    fs.chmodSync(dataDir, 0o755);
    const env = { DATABASE_URL: '', SEED_DEMO: '0', DATA_DIR: dataDir };
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');

    const first = await startServer(env);
    expect(first.output()).toMatch(/Demo admin: admin@switchboard\.local \/ \S+/);
    expect(fs.readFileSync(path.join(dataDir, 'demo-admin.txt'), 'utf8')).toContain('admin@switchboard.local');
    const cli = await exec(
      path.resolve('node_modules/.bin/tsx'),
      ['src/cli/token-create.ts', '--name', 'while running', '--scope', 'read'],
      { env: { ...process.env, ...env } },
    );
    const token = cli.stdout.trim().split('\n').at(-1)!;
    const features = await fetch(`${first.base}/api/platform/ai-management/features`, { headers: { Authorization: `Bearer ${token}` } });
    expect(features.status).toBe(200);
    expect(fs.existsSync(pidFile)).toBe(true);
    expect(await stop(first.child)).toBe(0);
    expect(fs.existsSync(pidFile)).toBe(false);

    const second = await startServer(env);
    expect(second.output()).not.toContain('Demo admin: admin@switchboard.local /');
    const again = await fetch(`${second.base}/api/platform/ai-management/features`, { headers: { Authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);

    // A crashed server leaves PostgreSQL running: the next start adopts it and stops it on exit.
    await stop(second.child, 'SIGKILL');
    expect(fs.existsSync(pidFile)).toBe(true);
    const third = await startServer(env);
    expect(await stop(third.child)).toBe(0);
    expect(fs.existsSync(pidFile)).toBe(false);
  }, 120_000);
});
