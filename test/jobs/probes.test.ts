import { randomUUID } from 'node:crypto';
import cron from 'node-cron';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/knex.ts';
import { run, schedule } from '../../src/jobs/probes.ts';
import { providerSummaries } from '../../src/metrics/summaries.ts';
import { createProviders, type Providers } from '../../src/providers/index.ts';
import { encryptSecret } from '../../src/providers/secrets.ts';
import { TEST_SECRETS_KEY, testConfig } from '../setup/app.ts';
import { makeFeature, makeModel, makeProvider, type ProviderFields, suffix } from '../setup/factories.ts';
import { type Answer, answerJson, closedPort, gate, MODEL_LIST, fakeProvider as startFakeProvider } from '../setup/fake-provider.ts';
import type { HealthCheckRecord, ProviderRecord } from '../setup/rows.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { insertUsage, MINUTE, modelRef } from '../setup/usage-factory.ts';

// The provider probe job (issue 6, SPEC §4 and §7): every 5 minutes each active provider is probed
// once (GET /models through its adapter) and the result stored as a 'probe' health check. It runs
// on a database of this file's own, so the job's view of "every active provider" is exactly the
// seeded simulator plus what each test activates.

const SLOT = 5 * MINUTE;

let db: Db;
let url: string;
let drop: () => Promise<void>;
let providers: Providers;
const servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  ({ db, url, drop } = await ownSeededDatabase('probes'));
  providers = createProviders({ secretsKey: TEST_SECRETS_KEY, timeoutMs: 1000, allowedPrivate: testConfig().providerAllowedPrivate });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await providers?.close();
  await db?.destroy();
  await drop?.();
});

// Each test starts with no health checks and only the seeded simulator active.
beforeEach(async () => {
  await db('health_checks').delete();
  await db('ai_providers').whereNot({ name: 'simulator' }).update({ status: 'inactive' });
});

/** A fake provider closed after the file's tests. */
async function fakeProvider(answer: Answer) {
  const handle = await startFakeProvider(answer);
  servers.push(handle);
  return handle;
}

/** An active provider of the test's own (what the job probes). */
const activeProvider = (fields: ProviderFields) => makeProvider(db, { status: 'active', ...fields });
const newKey = () => `sk-${suffix()}${suffix()}`;

const seededSimulator = async (): Promise<ProviderRecord> => (await db('ai_providers').where({ name: 'simulator' }).first())!;
const checks = (): Promise<HealthCheckRecord[]> => db('health_checks').orderBy('id').select('*');
const byProvider = (rows: HealthCheckRecord[]) => {
  const out = new Map<string, HealthCheckRecord[]>();
  for (const r of rows) out.set(r.provider_id, [...(out.get(r.provider_id) ?? []), r]);
  return out;
};
/** Resolves once `n` of the promises have settled, whichever they are. */
const settled = (promises: Promise<unknown>[], n: number) =>
  new Promise<void>((resolve) => {
    let count = 0;
    for (const p of promises) void p.finally(() => ++count === n && resolve());
  });

/** A moment well inside the current 5-minute slot's real time: rows stored now fall in its slot. */
const slotOf = (at: Date) => Math.floor(at.getTime() / SLOT) * SLOT;

describe('jobs/probes run()', () => {
  it('when it runs, then each active provider is probed once through its adapter with its own key, stored as a probe; inactive and error providers are not probed', async () => {
    const key = `sk-probe-${newKey()}`;
    const healthy = await fakeProvider(answerJson(MODEL_LIST));
    const bystander = await fakeProvider(answerJson(MODEL_LIST));
    const sim = await seededSimulator();
    const sim2 = await activeProvider({ kind: 'simulator', base_url: null });
    const ok = await activeProvider({ base_url: healthy.url, key });
    const down = await activeProvider({ base_url: `http://127.0.0.1:${await closedPort()}/v1`, key: newKey() });
    const inactive = await makeProvider(db, { base_url: bystander.url, status: 'inactive', key: newKey() });
    const errored = await makeProvider(db, { base_url: bystander.url, status: 'error', key: newKey() });

    const now = new Date();
    const started = Date.now();
    expect(await run({ db, now, providers })).toEqual({ ran: true, probed: 4, failed: 1 });
    expect(Date.now() - started).toBeLessThan(10_000);
    const rows = await checks();
    expect(rows).toHaveLength(4);
    const per = byProvider(rows);
    expect([...per.keys()].sort()).toEqual([sim.id, sim2.id, ok.id, down.id].sort());
    for (const id of [sim.id, sim2.id, ok.id]) {
      expect(
        per.get(id)!.map((r) => [r.kind, r.status, r.error, r.model_id]),
        id,
      ).toEqual([['probe', 'ok', null, null]]);
      expect(per.get(id)![0].latency_ms).toBeGreaterThanOrEqual(0);
    }
    const [failed] = per.get(down.id)!;
    expect(failed).toMatchObject({ kind: 'probe', status: 'error', model_id: null });
    expect(failed.error).toEqual(expect.any(String));
    expect(failed.error?.length).toBeGreaterThan(0);
    expect(per.has(inactive.id)).toBe(false);
    expect(per.has(errored.id)).toBe(false);
    expect(healthy.hits).toEqual([{ method: 'GET', url: '/v1/models', auth: `Bearer ${key}` }]);
    expect(bystander.hits).toEqual([]);
    for (const r of rows) expect(r.checked_at.getTime()).toBeGreaterThanOrEqual(slotOf(now));
  });

  it('when it runs again in the same 5-minute slot, then it probes nothing and stores nothing; in the next slot it probes every active provider again', async () => {
    const server = await fakeProvider(answerJson(MODEL_LIST));
    const p = await activeProvider({ base_url: server.url, key: newKey() });
    const sim = await seededSimulator();
    const now = new Date();
    expect(await run({ db, now, providers })).toEqual({ ran: true, probed: 2, failed: 0 });
    const first = await checks();
    expect(first).toHaveLength(2);

    expect(await run({ db, now, providers })).toEqual({ ran: true, probed: 0, failed: 0 });
    // Later in the same slot (a cron tick a few seconds late, a second instance): still nothing.
    expect(await run({ db, now: new Date(now.getTime() + 1000), providers })).toMatchObject({ ran: true, probed: 0 });
    expect(await checks()).toEqual(first);
    expect(server.hits).toHaveLength(1);

    const next = new Date(slotOf(now) + SLOT + 1000);
    expect(await run({ db, now: next, providers })).toEqual({ ran: true, probed: 2, failed: 0 });
    const after = byProvider(await checks());
    expect(after.get(p.id)!.map((r) => r.kind)).toEqual(['probe', 'probe']);
    expect(after.get(sim.id)!.map((r) => r.kind)).toEqual(['probe', 'probe']);
    expect(server.hits).toHaveLength(2);
  });

  it('when a manual "Test connection" or a smoke check was stored in the slot, then the scheduled probe still runs (only probes count)', async () => {
    const server = await fakeProvider(answerJson(MODEL_LIST));
    const p = await activeProvider({ base_url: server.url, key: newKey() });
    await db('health_checks').insert([
      { provider_id: p.id, kind: 'manual', status: 'ok', latency_ms: 3 },
      { provider_id: p.id, kind: 'smoke', status: 'ok', latency_ms: 3 },
    ]);
    expect(await run({ db, now: new Date(), providers })).toMatchObject({ ran: true, probed: 2 });
    expect((await db('health_checks').where({ provider_id: p.id, kind: 'probe' })).length).toBe(1);
  });

  it('when two runs start at once (two instances, separate pools), then exactly one probe per provider is stored and one run reports ran:false or probed 0', async () => {
    // The provider answers only once the other run has finished: the runs overlap for certain.
    const answer = gate();
    const server = await fakeProvider(answerJson(MODEL_LIST, { after: answer.opened }));
    const sim = await seededSimulator();
    const p = await activeProvider({ base_url: server.url, key: newKey() });
    const other = createDb(url, 2);
    try {
      const now = new Date();
      const runs = [run({ db, now, providers }), run({ db: other, now, providers })];
      await server.received(); // one run is probing
      await Promise.race(runs); // the other has given up meanwhile
      answer.open();
      const results = await Promise.all(runs);
      expect(
        results.reduce((a, r) => a + r.probed, 0),
        JSON.stringify(results),
      ).toBe(2);
      expect(
        results.some((r) => r.ran === false || r.probed === 0),
        JSON.stringify(results),
      ).toBe(true);
      expect(
        results.some((r) => r.ran && r.probed === 2),
        JSON.stringify(results),
      ).toBe(true);
      const per = byProvider(await checks());
      expect([...per.keys()].sort()).toEqual([sim.id, p.id].sort());
      for (const rows of per.values()) expect(rows).toHaveLength(1);
      expect(server.hits).toHaveLength(1);
    } finally {
      await other.destroy();
    }
  });

  it('when three runs start at once on the same pool, then still one probe per provider', async () => {
    const answer = gate();
    const server = await fakeProvider(answerJson(MODEL_LIST, { after: answer.opened }));
    const p = await activeProvider({ base_url: server.url, key: newKey() });
    const now = new Date();
    const runs = [1, 2, 3].map(() => run({ db, now, providers }));
    await server.received(); // one run is probing
    await settled(runs, 2); // the other two have given up meanwhile
    answer.open();
    const results = await Promise.all(runs);
    expect(
      results.reduce((a, r) => a + r.probed, 0),
      JSON.stringify(results),
    ).toBe(2);
    expect(results.filter((r) => r.probed > 0)).toHaveLength(1);
    expect(await db('health_checks').where({ provider_id: p.id })).toHaveLength(1);
    expect(await checks()).toHaveLength(2);
    expect(server.hits).toHaveLength(1);
  });

  it('when providers fail in different ways (503, not an OpenAI answer, no answer at all), then each stores an error with its reason, and the run ends within the provider timeout', async () => {
    const unavailable = await fakeProvider((_req, res) => {
      res.statusCode = 503;
      res.end('{"error":{"message":"overloaded"}}');
    });
    const html = await fakeProvider((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end('<html><body>Sign in</body></html>');
    });
    const silent = await fakeProvider(() => {}); // accepts and never answers
    const a = await activeProvider({ base_url: unavailable.url, key: newKey() });
    const b = await activeProvider({ base_url: html.url, key: newKey() });
    const c = await activeProvider({ base_url: silent.url, key: newKey() });
    const started = Date.now();
    expect(await run({ db, now: new Date(), providers })).toEqual({ ran: true, probed: 4, failed: 3 });
    // The three probes run side by side, each bounded by the 1000 ms provider timeout.
    expect(Date.now() - started).toBeLessThan(4000);
    const per = byProvider(await checks());
    expect(per.get(a.id)).toEqual([expect.objectContaining({ kind: 'probe', status: 'error', error: expect.stringContaining('503') })]);
    expect(per.get(b.id)).toEqual([
      expect.objectContaining({ kind: 'probe', status: 'error', error: expect.stringMatching(/not an OpenAI-compatible/) }),
    ]);
    expect(per.get(c.id)).toEqual([expect.objectContaining({ kind: 'probe', status: 'error', error: expect.stringMatching(/1000 ms/) })]);
    expect(per.get(c.id)![0].latency_ms).toBeGreaterThanOrEqual(900);
    expect(silent.hits).toHaveLength(1);
  });

  it("when a provider's stored key does not open with SECRETS_KEY, then its probe stores an error saying so and the other providers are still probed", async () => {
    const server = await fakeProvider(answerJson(MODEL_LIST));
    const brokenId = randomUUID();
    const broken = await activeProvider({
      id: brokenId,
      base_url: server.url,
      api_key_ciphertext: encryptSecret(Buffer.alloc(32, 9), 'sk-other-key-1234', brokenId),
      api_key_last4: '1234',
    });
    // A ciphertext copied from another provider's row does not open here either.
    const owner = await makeProvider(db, { base_url: server.url, status: 'inactive', key: 'sk-owner-key-5678' });
    const copied = await activeProvider({ base_url: server.url, api_key_ciphertext: owner.api_key_ciphertext, api_key_last4: '5678' });
    const sim = await seededSimulator();
    expect(await run({ db, now: new Date(), providers })).toEqual({ ran: true, probed: 3, failed: 2 });
    const per = byProvider(await checks());
    expect(per.get(broken.id)).toEqual([
      expect.objectContaining({ kind: 'probe', status: 'error', error: expect.stringMatching(/decrypt|SECRETS_KEY/) }),
    ]);
    expect(per.get(copied.id)).toEqual([
      expect.objectContaining({ kind: 'probe', status: 'error', error: expect.stringMatching(/decrypt|SECRETS_KEY/) }),
    ]);
    expect(per.get(sim.id)).toEqual([expect.objectContaining({ status: 'ok' })]);
    expect(server.hits).toEqual([]); // nothing is sent without a readable key
  });

  it('when the job stores a failed probe for a provider with healthy traffic, then its health score is capped at 50; a later successful slot does not lift the cap for 15 minutes', async () => {
    const server = await fakeProvider((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const p = await activeProvider({ base_url: server.url, key: newKey() });
    const model = await makeModel(db, { provider_id: p.id, input_price_per_1k: 0, output_price_per_1k: 0 });
    const feature = await makeFeature(db);
    const ref = modelRef(model, p);
    const base = Date.now();
    await insertUsage(
      db,
      Array.from({ length: 10 }, (_, i) => ({
        feature_id: feature.id,
        model: ref,
        status: 'success' as const,
        response_time_ms: 300,
        created_at: new Date(base - (5 + i) * MINUTE),
      })),
    );
    const score = async () => (await providerSummaries(db, [p.id], new Date())).get(p.id)!;
    expect(await score()).toMatchObject({ health_score: 100, probe_failed_recently: false });

    expect(await run({ db, now: new Date(), providers })).toMatchObject({ ran: true, failed: 1 });
    expect(await score()).toMatchObject({ health_score: 50, probe_failed_recently: true });
    // The failed probe, 20 minutes later, no longer caps.
    await db('health_checks')
      .where({ provider_id: p.id })
      .update({ checked_at: new Date(Date.now() - 20 * MINUTE) });
    expect(await score()).toMatchObject({ health_score: 100, probe_failed_recently: false });
  });

  it('the schedule is a valid node-cron expression firing at second 0 of every fifth minute', () => {
    expect(cron.validate(schedule)).toBe(true);
    const [second, minute, ...rest] = schedule.split(' ');
    expect(second).toBe('0');
    expect(minute).toBe('*/5');
    expect(rest).toEqual(['*', '*', '*', '*']);
  });
});
