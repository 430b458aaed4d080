import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeModel, makeToken, suffix } from '../setup/factories.ts';
import type { FeatureRecord } from '../setup/rows.ts';
import { csrfFor, signInAs } from '../setup/session.ts';
import { postUsage, usageEvent } from '../setup/usage-api.ts';
import { listCostUnits, type ModelRef, modelsByName, usd } from '../setup/usage-factory.ts';

// Shared test database: every test sends usage for features of its own, so counts are its own.
let t: TestContext;
let ingest: string;
let models: Map<string, ModelRef>;
beforeAll(async () => {
  t = startTestApp();
  ingest = (await makeToken(t.db, 'ingest')).token;
  models = await modelsByName(t.db);
});
afterAll(() => t.close());

const post = (body: unknown, token = ingest) => postUsage(t.app, token, body);
const ev = (feature: string, extra: Record<string, unknown> = {}) => usageEvent('e', feature, extra);
const stored = (featureId: string) => t.db('ai_usage_logs').where({ feature_id: featureId }).orderBy('id');
const ago = (ms: number) => new Date(Date.now() - ms);

describe('POST /api/v1/usage', () => {
  describe('a batch of valid and invalid events', () => {
    let f: FeatureRecord;
    let events: unknown[];
    let late: Date;
    let res: request.Response;
    beforeAll(async () => {
      f = await makeFeature(t.db);
      late = ago(2 * 86_400_000);
      const kolkata = new Date(late.getTime() + 330 * 60_000).toISOString().replace('Z', '+05:30');
      events = [
        ev(f.name, { input_tokens: 1234, output_tokens: 567 }),
        ev('no-such-feature'),
        ev(f.name, { model: 'no-such-model' }),
        ev(f.name, { status: 'ok' }),
        ev(f.name, { input_tokens: -1 }),
        ev(f.name, { created_at: new Date(Date.now() + 3_600_000).toISOString() }),
        ev(f.name, { created_at: '2026-11-20 10:00:00' }),
        { ...ev(f.name), event_id: undefined },
        42,
        ev(f.id, { model: models.get('claude-3-5-sonnet-20241022')!.id, cost_usd: 0.5, input_tokens: 100, output_tokens: 100 }),
        null,
        ev(f.name, {
          model: 'gemini-1.5-flash',
          created_at: kolkata,
          input_tokens: 1,
          output_tokens: 1,
          end_user_id: 'u-1',
          environment: 'staging',
        }),
      ];
      res = await post({ events }).expect(200);
    });

    it('when a batch mixes valid and invalid events, then each rejection names its index and reason', () => {
      expect(res.body.accepted).toBe(3);
      expect(res.body.duplicates).toBe(0);
      expect(res.body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10]);
      const reasons = Object.fromEntries(res.body.rejected.map((r: { index: number; error: string }) => [r.index, r.error]));
      expect(reasons[1]).toMatch(/unknown feature no-such-feature/);
      expect(reasons[2]).toMatch(/unknown model no-such-model/);
      expect(reasons[3]).toMatch(/^status /);
      expect(reasons[4]).toMatch(/^input_tokens .*0 or more/);
      expect(reasons[5]).toMatch(/created_at is in the future/);
      expect(reasons[6]).toMatch(/^created_at /);
      expect(reasons[7]).toMatch(/^event_id /);
      expect(reasons[8]).toMatch(/^event /);
      expect(reasons[10]).toMatch(/^event /);
    });

    it('when a batch mixes valid and invalid events, then the valid ones are stored, priced at list prices unless a cost is given', async () => {
      const all = await stored(f.id);
      const ids = [events[0], events[9], events[11]].map((e) => (e as { event_id: string }).event_id);
      expect(all.map((r) => r.event_id).sort()).toEqual([...ids].sort());
      const rows = ids.map((id) => all.find((r) => r.event_id === id)!);
      const [mini, sonnet] = [models.get('gpt-4o-mini')!, models.get('claude-3-5-sonnet-20241022')!];
      // Costs from list prices when absent: round(tokens × price / 1000, 8) per direction.
      expect(rows[0]).toMatchObject({
        model_id: mini.id,
        provider_id: mini.provider_id,
        environment: 'production',
        end_user_id: null,
        input_tokens: 1234,
        output_tokens: 567,
      });
      expect(rows[0].input_cost_usd).toBe(Number(usd(listCostUnits(1234, mini.in_micro))));
      expect(rows[0].cost_usd).toBe(Number(usd(listCostUnits(1234, mini.in_micro) + listCostUnits(567, mini.out_micro))));
      expect([rows[2].input_cost_usd, rows[2].cost_usd]).toEqual([0.00000008, 0.00000038]); // 7.5e-8 rounds half up to 8e-8, + 3e-7
      expect(rows[2]).toMatchObject({ end_user_id: 'u-1', environment: 'staging' });
      expect(rows[2].created_at.getTime()).toBe(late.getTime());
      // A given cost is kept as it is, the model and its provider found by id.
      expect(rows[1]).toMatchObject({ model_id: sonnet.id, provider_id: sonnet.provider_id, cost_usd: 0.5 });
      expect(rows[1].input_cost_usd).toBeLessThanOrEqual(0.5);
    });
  });

  it('when an event holds a NUL byte, then that event alone is rejected and the rest of the batch is stored', async () => {
    const f = await makeFeature(t.db);
    const events = [ev(f.name), ev(f.name, { end_user_id: 'u\u0000' }), { ...ev(f.name), event_id: 'e\u0000' }];
    const res = await post({ events }).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual([
      { index: 1, error: 'end_user_id must not contain control characters' },
      { index: 2, error: 'event_id must not contain control characters' },
    ]);
    expect((await stored(f.id)).map((r) => r.event_id)).toEqual([events[0].event_id]);
  });

  it('when a batch is retried, even with other timestamps, then nothing is stored twice and the retry reports duplicates', async () => {
    const f = await makeFeature(t.db);
    const events = Array.from({ length: 5 }, () => ev(f.name, { created_at: ago(60_000).toISOString() }));
    expect((await post({ events }).expect(200)).body).toEqual({ accepted: 5, duplicates: 0, rejected: [] });
    expect((await post({ events }).expect(200)).body).toEqual({ accepted: 0, duplicates: 5, rejected: [] });
    const shifted = events.map((e) => ({ ...e, created_at: ago(5 * 60_000).toISOString() }));
    expect((await post({ events: [...shifted, ev(f.name)] }).expect(200)).body).toEqual({ accepted: 1, duplicates: 5, rejected: [] });
    expect(await stored(f.id)).toHaveLength(6);
  });

  it('when one batch repeats an event_id, then it is stored once and counted once as a duplicate', async () => {
    const f = await makeFeature(t.db);
    const e = ev(f.name);
    const res = await post({ events: [e, { ...e, response_time_ms: 999 }, { ...e, status: 'bogus' }] }).expect(200);
    expect(res.body).toMatchObject({ accepted: 1, duplicates: 1, rejected: [{ index: 2 }] });
    expect((await stored(f.id)).map((r) => r.response_time_ms)).toEqual([120]);
  });

  it('when 20 clients post the same batch at once, then each event is stored exactly once', async () => {
    const f = await makeFeature(t.db);
    const events = Array.from({ length: 50 }, () => ev(f.id, { end_user_id: `u-${suffix()}` }));
    const answers = await Promise.all(Array.from({ length: 20 }, () => post({ events })));
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));
    expect(answers.reduce((n, a) => n + a.body.accepted, 0)).toBe(50);
    expect(answers.reduce((n, a) => n + a.body.duplicates, 0)).toBe(950);
    expect(await stored(f.id)).toHaveLength(50);
    expect(
      await t
        .db('ai_usage_event_keys')
        .whereIn(
          'event_id',
          events.map((e) => e.event_id),
        )
        .count({ n: '*' }),
    ).toEqual([{ n: 50 }]);
  });

  it('when a model name is offered by two providers, then the event must name the provider or the model id', async () => {
    const f = await makeFeature(t.db);
    const name = `dup-${suffix()}`;
    const [openai, anthropic] = await Promise.all(['openai', 'anthropic'].map((p) => t.db('ai_providers').where({ name: p }).first('id')));
    for (const p of [openai, anthropic]) await makeModel(t.db, { provider_id: p!.id, name, display_name: name, status: 'beta' });
    const res = await post({ events: [ev(f.name, { model: name }), ev(f.name, { model: name, provider: 'anthropic' })] }).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual([{ index: 0, error: expect.stringMatching(/several providers/) }]);
    expect((await stored(f.id))[0].provider_id).toBe(anthropic!.id);
  });

  it('BUG ingest: when a feature is named by its id in upper case, then it is found like an upper-case model id (uuids are case-insensitive)', async () => {
    const f = await makeFeature(t.db);
    const mini = models.get('gpt-4o-mini')!;
    const res = await post({ events: [ev(f.id.toUpperCase(), { model: mini.id.toUpperCase() })] }).expect(200);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('when an event is accepted, then it shows in the feature metrics at once, with no rollup run', async () => {
    const f = await makeFeature(t.db);
    const read = (await makeToken(t.db, 'read')).token;
    await post({
      events: [ev(f.name, { status: 'error', response_time_ms: 321, end_user_id: 'someone', input_tokens: 1000, output_tokens: 0 })],
    }).expect(200);
    const res = await request(t.app)
      .get(`/api/platform/ai-management/features/${f.id}/metrics?time_range=1h`)
      .set('Authorization', `Bearer ${read}`)
      .expect(200);
    expect(res.body.data.usage).toMatchObject({ total_requests: 1, unique_users: 1 });
    expect(res.body.data.realtime).toMatchObject({ error_rate: 100, success_rate: 0, response_time: 321, p95: 321 });
    expect(res.body.data.costs.total_cost).toBeCloseTo(0.00015, 10);
  });
});

describe('POST /api/v1/usage refusals', () => {
  it('when the batch is too large (1001 events, or over 1 MiB), then it answers 413 and stores nothing', async () => {
    const f = await makeFeature(t.db);
    const many = await post({ events: Array.from({ length: 1001 }, () => ev(f.name)) }).expect(413);
    expect(many.body.success).toBe(false);
    const padded = Array.from({ length: 600 }, () => ev(f.name, { note: 'x'.repeat(1800) }));
    expect(JSON.stringify({ events: padded }).length).toBeGreaterThan(1024 * 1024);
    expect((await post({ events: padded }).expect(413)).body.success).toBe(false);
    expect(await stored(f.id)).toHaveLength(0);
    expect((await post({ events: Array.from({ length: 1000 }, () => ev(f.name)) }).expect(200)).body.accepted).toBe(1000);
  });

  it('when the envelope is malformed, then it answers 400 in the JSON error shape', async () => {
    for (const body of [{}, { events: 'x' }, { events: { a: 1 } }, [ev('chatbot')]]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body, JSON.stringify(body)).toMatchObject({ success: false, error: expect.any(String) });
    }
    const bad = await request(t.app)
      .post('/api/v1/usage')
      .set('Authorization', `Bearer ${ingest}`)
      .set('Content-Type', 'application/json')
      .send('{"events": [');
    expect(bad.status).toBe(400);
    expect(bad.body.success).toBe(false);
  });

  it('when the caller has no token, a read token or only a session, then it is refused with 401 or 403 and nothing is stored', async () => {
    const f = await makeFeature(t.db);
    const events = [ev(f.name)];
    await request(t.app).post('/api/v1/usage').send({ events }).expect(401);
    await post({ events }, (await makeToken(t.db, 'read')).token).expect(403);
    await post({ events }, 'sb_not-a-token').expect(401);
    const { agent } = await signInAs(t, 'admin');
    const res = await agent
      .post('/api/v1/usage')
      .set('X-CSRF-Token', await csrfFor(agent))
      .send({ events });
    expect(res.status).toBe(403);
    expect(res.body.success).toBe(false);
    expect(await stored(f.id)).toHaveLength(0);
  });
});
