import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedReference } from '../../seeds/reference.ts';
import { type EmbeddedCluster, freePort, openEmbeddedCluster } from '../../src/db/embedded.ts';
import { createDb } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken } from '../setup/factories.ts';

// The database crashes under steady ingestion (issue 19): a PostgreSQL cluster of this file's own is
// killed like `pg_ctl stop -m immediate` (SIGQUIT to the postmaster) and started again while a
// producer keeps sending, retrying a batch the same way a real client does on 503. Every
// acknowledged event must be stored exactly once, nothing answers 500, and the same app recovers by
// itself. Commits are synchronous here (as in production): an acknowledged event has reached the WAL.
const BATCHES = 30;
const PER_BATCH = 20;

let dir: string;
let port: number;
let cluster: EmbeddedCluster | undefined;
let t: TestContext;
let token: string;

const open = () =>
  openEmbeddedCluster({
    dir: path.join(dir, 'pg'),
    password: 'crash',
    port,
    database: 'crash',
    settings: { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'on' },
  });

/**
 * What `pg_ctl stop -m immediate` does: SIGQUIT to the postmaster, no shutdown checkpoint. Resolves
 * when the postmaster has gone, which it tells by removing its postmaster.pid.
 */
async function crash() {
  const dataDir = path.join(dir, 'pg');
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  const gone = new Promise<void>((resolve) => {
    const watcher = fs.watch(dataDir, () => {
      if (fs.existsSync(pidFile)) return;
      watcher.close();
      resolve();
    });
  });
  process.kill(pid, 'SIGQUIT');
  await gone;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-crash-'));
  fs.chmodSync(dir, 0o755);
  port = await freePort();
  cluster = await open();
  const setup = createDb(cluster.url, 2);
  await migrateLatest(setup);
  await seedReference(setup);
  token = (await makeToken(setup, 'ingest')).token;
  await setup.destroy();
  t = startTestApp({ databaseUrl: cluster.url }, createDb(cluster.url, 5));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await t?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('when the database crashes and comes back under steady ingestion', () => {
  it('stores every acknowledged event exactly once, answers 503 (never 500) meanwhile, and recovers without a restart', async () => {
    const statuses = new Map<number, number>();
    const acknowledged: string[] = [];
    const batch = (n: number) =>
      Array.from({ length: PER_BATCH }, (_, i) => ({
        event_id: `crash-${n}-${i}`,
        feature: 'chatbot',
        model: 'gpt-4o-mini',
        status: 'success',
        response_time_ms: 100 + i,
      }));
    let crashed: Promise<void> | undefined;
    // The producer's first 503 lets the restart begin; the restart lets a waiting producer retry.
    let saw503 = () => {};
    const refused = new Promise<void>((resolve) => (saw503 = resolve));
    let back: Promise<void> = Promise.resolve();
    for (let n = 0; n < BATCHES; n++) {
      const events = batch(n);
      // A producer's loop: the same batch again after a 503, until it is acknowledged.
      for (let attempt = 0; ; attempt++) {
        const res = await request(t.app).post('/api/v1/usage').set('Authorization', `Bearer ${token}`).send({ events });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) {
          expect(res.body.accepted + res.body.duplicates).toBe(PER_BATCH);
          expect(res.body.rejected).toEqual([]);
          acknowledged.push(...events.map((e) => e.event_id));
          break;
        }
        expect(res.status).toBe(503);
        expect(attempt).toBeLessThan(20); // after the restart, the pool drops its dead connections one by one
        saw503();
        await back;
      }
      if (n === 10) {
        crashed = crash();
        back = crashed.then(async () => {
          await refused;
          cluster = await open();
        });
        // The next batch meets the crashed database; the restart runs beside the producer's retries.
        await crashed;
      }
    }
    await back;
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].sort()).toEqual([200, 503]);

    const stored = await t.db('ai_usage_logs').where('event_id', 'like', 'crash-%').select('event_id');
    expect(stored).toHaveLength(BATCHES * PER_BATCH);
    expect(new Set(stored.map((r) => r.event_id))).toEqual(new Set(acknowledged));
    // The same app and pool fold and answer again.
    expect((await runRollup({ db: t.db })).ran).toBe(true);
    await request(t.app).get('/healthz').expect(200);
    await request(t.app).get('/readyz').expect(200);
  }, 120_000);
});
