import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { run as tick } from '../../src/jobs/test-runs.ts';
import { createProviders, type Providers } from '../../src/providers/index.ts';
import { CONCURRENCY, claimRun, LEASE_MS, workRun } from '../../src/services/test-run-worker.ts';
import { startRun } from '../../src/services/test-runs.ts';
import { TEST_SECRETS_KEY, testConfig } from '../setup/app.ts';
import { makeFeature, makeModel, makeProvider } from '../setup/factories.ts';
import { answerJson, fakeProvider, gate } from '../setup/fake-provider.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { makeTestCase } from '../setup/test-cases.ts';

// The suite-run worker (issue 16) on a database of this file's own, so that the job's "oldest run to
// claim" is always this file's: runs against the simulator and an OpenAI-compatible server, a run
// that survives a restart, one that cannot go on, and the cost cap. The clock is injected.

let db: Db;
let drop: () => Promise<void>;
let providers: Providers;
const actor = { kind: 'system', label: 'test' } as const;
const T = new Date('2026-11-28T12:00:00Z');
const later = (ms: number) => new Date(T.getTime() + ms);

beforeAll(async () => {
  ({ db, drop } = await ownSeededDatabase('runs'));
  providers = createProviders({ secretsKey: TEST_SECRETS_KEY, timeoutMs: 2000, allowedPrivate: testConfig().providerAllowedPrivate });
});
afterAll(async () => {
  await providers?.close();
  await db?.destroy();
  await drop?.();
});

async function suite(model = {}) {
  const feature = await makeFeature(db);
  const m = await makeModel(db, model);
  return { feature, model: m };
}

const results = (runId: string) => db('test_run_results').where({ run_id: runId }).orderBy('position');
const runRow = (runId: string) => db('test_runs').where({ id: runId }).first();

describe('the test-runs job', () => {
  it('when a run is queued against the simulator, then it works every case with its repeats and the verdicts in words, apart from usage', async () => {
    const { feature, model } = await suite();
    await makeTestCase(db, feature.id, { name: 'says ok', assertions: [{ type: 'contains', value: 'ok' }] });
    await makeTestCase(db, feature.id, { name: 'exact', critical: true, assertions: [{ type: 'equals', value: 'nope' }] });
    await makeTestCase(db, feature.id, { name: 'flaky', repeats: 3, pass_k: 2, assertions: [{ type: 'regex', pattern: '^ok$' }] });
    const { run, plan } = await startRun(db, actor, feature, { model_id: model.id });
    expect(run).toMatchObject({ status: 'queued', cases_total: 3 });
    // 5 calls × (about 1 input token + 256 output tokens assumed) at $0.001 / $0.002 per 1k
    expect(plan.estimate).toBeCloseTo(5 * ((1 * 0.001 + 256 * 0.002) / 1000), 6);

    expect(await tick({ db, now: T, providers })).toMatchObject({ run: run.id, status: 'done', done: 3, total: 3 });
    expect(await runRow(run.id)).toMatchObject({
      status: 'done',
      cases_passed: 2,
      critical_failures: 1,
      pass_rate: 66.67,
      cost_usd: 0.00005,
    });
    const [ok, exact, flaky] = await results(run.id);
    expect(ok).toMatchObject({ status: 'done', passed: true, input_tokens: 8, output_tokens: 1 });
    expect(ok.attempts[0]).toMatchObject({ output: 'ok', verdicts: [{ assertion: 'contains “ok”', pass: true, detail: '' }] });
    expect(exact.passed).toBe(false);
    expect(exact.attempts[0].verdicts).toEqual([
      { assertion: 'is exactly “nope”', pass: false, detail: 'the output is not exactly “nope”' },
    ]);
    expect(flaky).toMatchObject({ passed: true, input_tokens: 24 });
    expect(flaky.attempts).toHaveLength(3);
    expect(await db('playground_calls').where({ feature_id: feature.id })).toEqual([]);
    expect(await db('ai_usage_logs').where({ feature_id: feature.id })).toEqual([]);
    expect(await tick({ db, now: later(1000), providers })).toEqual({ run: null });
  });

  it('when the model answers over real HTTP (an OpenAI-compatible server), then its JSON is judged', async () => {
    const server = await fakeProvider(
      answerJson({
        choices: [{ message: { role: 'assistant', content: '{"answer": 42}' } }],
        usage: { prompt_tokens: 10, completion_tokens: 5 },
      }),
    );
    try {
      const provider = await makeProvider(db, { base_url: server.url, status: 'active', key: 'sk-test-1111' });
      const { feature, model } = await suite({ provider_id: provider.id });
      await makeTestCase(db, feature.id, { assertions: [{ type: 'json', required_keys: ['answer'] }] });
      await makeTestCase(db, feature.id, { assertions: [{ type: 'json', required_keys: ['missing'] }] });
      const { run } = await startRun(db, actor, feature, { model_id: model.id });
      await tick({ db, now: T, providers });
      expect(await runRow(run.id)).toMatchObject({ status: 'done', cases_passed: 1, pass_rate: 50 });
      const [first, second] = await results(run.id);
      expect(first).toMatchObject({ passed: true, input_tokens: 10, output_tokens: 5 });
      expect(second.attempts[0].verdicts[0]).toMatchObject({ pass: false, detail: 'the JSON has no missing' });
      expect(server.hits.map((h) => [h.url, h.auth])).toEqual([
        ['/v1/chat/completions', 'Bearer sk-test-1111'],
        ['/v1/chat/completions', 'Bearer sk-test-1111'],
      ]);
    } finally {
      await server.close();
    }
  });

  it('when an embedding model is judged by similarity, then each reference answer is embedded once by the same model and compared by cosine', async () => {
    const vectors: Record<string, number[]> = { 'a kitten': [1, 0.1], 'a cat': [0.9, 0.2], 'a truck': [0, 1] };
    const server = await fakeProvider((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const input = JSON.parse(body).input as string;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ data: [{ embedding: vectors[input] ?? [0.5, 0.5] }], usage: { prompt_tokens: 2, total_tokens: 2 } }));
      });
    });
    try {
      const provider = await makeProvider(db, { base_url: server.url, status: 'active', key: 'sk-test-2222' });
      const { feature: created, model } = await suite({ provider_id: provider.id, model_type: 'embedding' });
      const [feature] = await db('ai_features').where({ id: created.id }).update({ required_model_type: 'embedding' }).returning('*');
      const input = { messages: [{ role: 'user' as const, content: 'a kitten' }] };
      await makeTestCase(db, feature.id, { name: 'near', input, assertions: [{ type: 'similar', reference: 'a cat', threshold: 0.9 }] });
      await makeTestCase(db, feature.id, { name: 'far', input, assertions: [{ type: 'similar', reference: 'a truck', threshold: 0.9 }] });
      await makeTestCase(db, feature.id, {
        name: 'near again',
        input,
        assertions: [{ type: 'similar', reference: 'a cat', threshold: 0.5 }],
      });
      const { run } = await startRun(db, actor, feature, { model_id: model.id });
      await tick({ db, now: T, providers });
      expect(await runRow(run.id)).toMatchObject({ status: 'done', cases_passed: 2 });
      const [near, far] = await results(run.id);
      expect(near.passed).toBe(true);
      expect(far.attempts[0].verdicts[0].detail).toMatch(/^cosine similarity 0\.\d{3} is below 0\.9$/);
      // Two references, each embedded once, and three cases: five calls.
      expect(server.hits).toHaveLength(5);
    } finally {
      await server.close();
    }
  });

  it('when the worker stops mid-run (a restart), then after its lease lapses the run resumes where it stopped, with no duplicate result', async () => {
    const { feature, model } = await suite();
    for (let i = 0; i < 3; i++) await makeTestCase(db, feature.id, { assertions: [{ type: 'contains', value: 'ok' }] });
    const { run } = await startRun(db, actor, feature, { model_id: model.id });
    // A worker claims it, writes one case, and is gone without letting go of the run.
    const claimed = await claimRun(db, { now: T, owner: 'gone' });
    const part = await workRun(db, providers, claimed!, { owner: 'gone', now: T, maxCases: 1 });
    expect(part).toMatchObject({ status: 'running', cases_done: 1, lease_owner: 'gone' });
    const [firstDone] = await results(run.id);

    // While the lease holds, no other instance takes it.
    expect(await tick({ db, now: later(LEASE_MS / 2), providers })).toEqual({ run: null });
    // Once it lapsed, the next tick resumes it.
    expect(await tick({ db, now: later(2 * LEASE_MS), providers })).toMatchObject({ run: run.id, status: 'done', done: 3 });
    const rows = await results(run.id);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.status === 'done' && r.attempts.length === 1)).toBe(true);
    expect(rows[0].finished_at).toEqual(firstDone.finished_at);
    expect(await runRow(run.id)).toMatchObject({
      cases_done: 3,
      cases_passed: 3,
      pass_rate: 100,
      cost_usd: 0.00003,
      lease_owner: null,
      resumed: 1,
    });
  });

  it('when a running run cannot go on (its model was archived, its lease lapsed), then it is marked failed with the reason, not left running', async () => {
    const { feature, model } = await suite();
    await makeTestCase(db, feature.id);
    const { run } = await startRun(db, actor, feature, { model_id: model.id });
    await claimRun(db, { now: T, owner: 'gone' });
    await db('ai_models').where({ id: model.id }).update({ archived_at: T, archived_by: 'test' });
    expect(await tick({ db, now: later(2 * LEASE_MS), providers })).toMatchObject({ run: run.id, status: 'failed' });
    expect(await runRow(run.id)).toMatchObject({
      status: 'failed',
      error: `cannot continue: ${model.display_name} was archived`,
      lease_owner: null,
    });
  });

  it('when a run has more cases than the bound, then no more than 4 calls are in flight at once', async () => {
    const held = gate();
    let inFlight = 0;
    let most = 0;
    const server = await fakeProvider((_req, res) => {
      most = Math.max(most, ++inFlight);
      void held.opened.then(() => {
        inFlight--;
        answerJson({ choices: [{ message: { role: 'assistant', content: 'ok' } }] })(_req, res);
      });
    });
    try {
      const provider = await makeProvider(db, { base_url: server.url, status: 'active' });
      const { feature, model } = await suite({ provider_id: provider.id });
      for (let i = 0; i < 7; i++) await makeTestCase(db, feature.id);
      const { run } = await startRun(db, actor, feature, { model_id: model.id });
      const working = tick({ db, now: T, providers });
      // The first four calls are under way together; the others wait for a free lane.
      await server.received(CONCURRENCY);
      held.open();
      expect(await working).toMatchObject({ run: run.id, status: 'done', done: 7 });
      expect(CONCURRENCY).toBe(4);
      expect(most).toBe(4);
      expect(server.hits).toHaveLength(7);
    } finally {
      await server.close();
    }
  });

  it('when its worker keeps stopping mid-run, then after the fourth take-over the run is failed, not tried forever', async () => {
    const { feature, model } = await suite();
    await makeTestCase(db, feature.id);
    const { run } = await startRun(db, actor, feature, { model_id: model.id });
    await db('test_runs').where({ id: run.id }).update({ status: 'running', lease_owner: 'gone', lease_until: T, resumed: 3 });
    expect(await tick({ db, now: later(1000), providers })).toMatchObject({ run: run.id, status: 'failed' });
    expect(await runRow(run.id)).toMatchObject({
      resumed: 4,
      cases_done: 0,
      error: 'cannot continue: its worker stopped 4 times while running it (restarts or crashes)',
    });
  });

  it('when the provider cannot be used (its key no longer opens), then the run fails saying so', async () => {
    const provider = await makeProvider(db, {
      status: 'active',
      display_name: 'Locked AI',
      api_key_ciphertext: Buffer.from('not a sealed key'),
      api_key_last4: 'abcd',
    });
    const { feature, model } = await suite({ provider_id: provider.id });
    await makeTestCase(db, feature.id);
    const { run } = await startRun(db, actor, feature, { model_id: model.id });
    expect(await tick({ db, now: T, providers })).toMatchObject({ run: run.id, status: 'failed' });
    expect((await runRow(run.id))!.error).toBe('cannot continue: Locked AI has an API key that cannot be read; enter it again');
  });

  it('when the next case could take the cost past the cap, then the run stops there, failed, saying so', async () => {
    const { feature, model } = await suite({ input_price_per_1k: 1, output_price_per_1k: 1 });
    for (let i = 0; i < 3; i++) await makeTestCase(db, feature.id);
    // A call is estimated at (1 input + 256 output tokens) × $1/1k = $0.257: one fits under $0.30, two do not.
    const { run } = await startRun(db, actor, feature, { model_id: model.id, cost_cap_usd: 0.3 });
    expect(await tick({ db, now: T, providers })).toMatchObject({ status: 'failed' });
    expect(await runRow(run.id)).toMatchObject({
      status: 'failed',
      cases_done: 1,
      cost_usd: 0.009,
      error: 'cost cap $0.3 reached after 1 of 3 cases: the next case could cost more than what is left',
    });
    expect((await results(run.id)).map((r) => r.status)).toEqual(['done', 'pending', 'pending']);
  });
});
