import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import type { Db } from '../../src/db/knex.ts';
import { untilListening } from '../setup/child-server.ts';
import { makeFeature, makeToken, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';

const BASE = '/api/platform/ai-management';
const DRAIN_MS = 1500;
const SLOW_MS = 6000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The server runs its jobs: on a database of this file's own, so that they never take up work (a queued
// suite run, rows to fold) that another file's test is about to do itself.
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let db: Db;
let child: ChildProcess | undefined;
beforeAll(async () => {
  own = await ownSeededDatabase('shutdown');
  db = own.db;
});
afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await db?.destroy();
  await own?.drop();
});

/** The server from source (what `npm run dev` runs), on this file's database, until it says it listens. */
async function startServer(env: Record<string, string>) {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  await untilListening(proc, () => output, 90_000);
  return { proc, port, base, exited, output: () => output };
}

/** One request on a connection of its own: status, headers and body, or the socket error's code. */
function get(
  port: number,
  urlPath: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

describe('SIGTERM', () => {
  it('when a slow request is in flight, then /readyz turns 503 during the drain, the request completes, the port closes and the process exits 0', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-shutdown-'));
    const { token } = await makeToken(db, 'admin');
    const feature = await makeFeature(db);
    const simulator = (await db('ai_providers').where({ name: 'simulator' }).first('id'))!;
    const [model] = await db('ai_models')
      .insert({
        provider_id: simulator.id,
        name: `slow-${suffix()}`,
        display_name: 'Slow model',
        model_type: 'llm',
        status: 'available',
        input_price_per_1k: 0,
        output_price_per_1k: 0,
      })
      .returning('*');
    const server = await startServer({
      DATABASE_URL: own.url,
      SEED_DEMO: '0',
      DATA_DIR: dataDir,
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
    });
    const api = (method: string, url: string, body: object) =>
      fetch(`${server.base}${BASE}${url}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect(await get(server.port, '/readyz')).toMatchObject({ status: 200, body: '{"status":"ready"}' });

    // A real slow path: a deployment whose smoke request goes to a simulator model made slow.
    expect((await api('PUT', `/simulator/models/${model.name}`, { latency_ms: SLOW_MS, error_rate: 0 })).status).toBe(200);
    let finished = false;
    const deployment = api('POST', `/features/${feature.id}/models`, { model_id: model.id, environment: 'development' }).then(async (r) => {
      finished = true;
      return { status: r.status, body: await r.json() };
    });
    for (let i = 0; i < 100 && !(await db('deployments').where({ feature_id: feature.id, status: 'in_progress' }).first()); i++)
      await sleep(50);
    expect(await db('deployments').where({ feature_id: feature.id, status: 'in_progress' }).first()).toBeDefined();

    const signalled = Date.now();
    server.proc.kill('SIGTERM');
    // Not ready, still serving, and telling clients not to keep the connection.
    let ready: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 20; i++) {
      ready = await get(server.port, '/readyz');
      if ('status' in ready && ready.status === 503) break;
      await sleep(50);
    }
    expect(ready).toMatchObject({ status: 503, body: '{"status":"stopping"}' });
    expect('headers' in ready! && ready.headers.connection).toBe('close');
    expect(Date.now() - signalled).toBeLessThan(DRAIN_MS);
    expect(await get(server.port, '/healthz')).toMatchObject({ status: 200 });

    // After the drain the listener closes while the deployment is still running.
    let refused: Awaited<ReturnType<typeof get>> | undefined;
    for (let i = 0; i < 100; i++) {
      refused = await get(server.port, '/readyz');
      // A request that reaches the listener as it closes is reset; the next one finds the port closed.
      if ('error' in refused && refused.error !== 'ECONNRESET') break;
      await sleep(50);
    }
    expect(refused).toEqual({ error: 'ECONNREFUSED' });
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(DRAIN_MS - 100);
    expect(finished).toBe(false);

    const done = await deployment;
    expect(done.status).toBe(201);
    expect(done.body.data.deployment.status).toBe('success');
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('shutting down: not ready, draining');
    expect(await db('deployments').where({ feature_id: feature.id }).pluck('status')).toEqual(['success']);
  }, 60_000);
});
