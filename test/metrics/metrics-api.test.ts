import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { HOUR, insertUsage, MINUTE, type ModelRef, modelsByName } from '../setup/usage-factory.ts';
import { bruteSummary, differences, rawRows } from './brute-force.ts';

const API = '/api/platform/ai-management';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let t: TestContext;
let auth: { Authorization: string };
beforeAll(async () => {
  t = startTestApp();
  auth = { Authorization: `Bearer ${(await makeToken(t.db, 'read')).token}` };
});
afterAll(() => t.close());
const get = (path: string) => request(t.app).get(`${API}${path}`).set(auth);

describe('JSON API shapes (shared database)', () => {
  it('when features are listed with include_metrics, then each carries its metrics and the range is in the metadata', async () => {
    const res = await get('/features?include_metrics=true&time_range=24h').expect(200);
    expect(res.body.success).toBe(true);
    expect(res.body.metadata).toEqual({ time_range: '24h', environment: 'production', generated_at: expect.stringMatching(ISO) });
    const chatbot = res.body.data.find((f: { name: string }) => f.name === 'chatbot');
    expect(Object.keys(chatbot).sort()).toEqual([
      'current_model',
      'description',
      'display_name',
      'id',
      'metrics',
      'name',
      'required_model_type',
      'restore_at',
      'settings',
      'status',
      'status_reason',
    ]);
    expect(chatbot.settings).toEqual({
      error_rate_threshold: 5,
      latency_threshold_ms: 2000,
      monthly_budget_usd: null,
      over_budget_action: 'notify',
      min_eval_pass_rate: null,
    });
    expect(Object.keys(chatbot.metrics).sort()).toEqual([
      'cost_per_request',
      'error_rate',
      'p95',
      'response_time',
      'success_rate',
      'total_cost',
      'total_requests',
      'uptime',
    ]);
    const plain = await get('/features').expect(200);
    expect(plain.body.metadata).toBeUndefined();
    expect(plain.body.data.every((f: object) => !('metrics' in f))).toBe(true);
  });

  it("when a feature's metrics are asked for by id or slug, then the FeatureMetrics shape comes back with feature_id, time_range and generated_at", async () => {
    const f = await makeFeature(t.db);
    const mini = (await modelsByName(t.db)).get('gpt-4o-mini')!;
    await insertUsage(t.db, [{ feature_id: f.id, model: mini, created_at: new Date(Date.now() - 2 * HOUR), response_time_ms: 400 }]);
    for (const key of [f.id, f.name]) {
      const res = await get(`/features/${key}/metrics?time_range=7d`).expect(200);
      expect(res.body.metadata).toMatchObject({ feature_id: f.id, time_range: '7d', generated_at: expect.stringMatching(ISO) });
      const d = res.body.data;
      expect(Object.keys(d).sort()).toEqual(['costs', 'historical', 'performance', 'realtime', 'usage']);
      expect(Object.keys(d.realtime).sort()).toEqual([
        'cost_per_request',
        'error_rate',
        'p50',
        'p95',
        'p99',
        'requests_per_minute',
        'response_time',
        'success_rate',
        'uptime',
      ]);
      expect(d.historical).toMatchObject({ timeRange: '7d', bucket: '6 hours' });
      expect(d.historical.data).toHaveLength(29);
      expect(Object.keys(d.historical.data[0]).sort()).toEqual([
        'cost',
        'error_rate',
        'p95',
        'requests',
        'response_time',
        'throughput',
        'timestamp',
      ]);
      expect(d.usage).toMatchObject({ total_requests: 1, unique_users: 0, avg_requests_per_user: null });
      expect(Object.keys(d.costs).sort()).toEqual([
        'cost_breakdown',
        'cost_by_direction',
        'cost_per_request_trend',
        'cost_trend',
        'previous_cost',
        'total_cost',
      ]);
      expect(d.realtime).toMatchObject({ response_time: 400, p95: 400, success_rate: 100, error_rate: 0 });
      expect(d.performance).toMatchObject({ grade: expect.stringMatching(/^(A\+|A|B|C|D)$/), labels: expect.any(Object) });
    }
  });

  it('when time_range is unknown or the feature does not exist, then it answers 400 or 404 in the error shape, never a silent default', async () => {
    for (const path of [
      '/features/chatbot/metrics?time_range=2h',
      '/features?include_metrics=true&time_range=week',
      '/models?include_metrics=true&time_range=1d',
    ]) {
      const res = await get(path).expect(400);
      expect(res.body).toMatchObject({ success: false, error: expect.stringMatching(/time_range/) });
    }
    for (const key of ['no-such-feature', '00000000-0000-4000-8000-000000000000']) {
      expect((await get(`/features/${key}/metrics?time_range=24h`).expect(404)).body).toMatchObject({
        success: false,
        error: 'Feature not found',
      });
    }
    expect((await get('/models?status=retired').expect(400)).body.success).toBe(false);
  });

  it('when models are filtered by provider and status with metrics, then exactly the matching models come back, each with performance metrics', async () => {
    const res = await get('/models?provider=openai&status=available&include_metrics=true').expect(200);
    const expected = await t
      .db('ai_models as m')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .where({ 'p.name': 'openai', 'm.status': 'available' })
      .pluck('m.name');
    expect(res.body.data.map((m: { name: string }) => m.name).sort()).toEqual(expected.sort());
    for (const m of res.body.data) {
      expect(m).toMatchObject({
        provider_name: 'openai',
        status: 'available',
        pricing: { input_per_1k: expect.any(Number), output_per_1k: expect.any(Number) },
      });
      expect(Object.keys(m.performance_metrics).sort()).toEqual([
        'average_response_time',
        'p95_response_time',
        'success_rate',
        'total_cost',
        'total_requests',
      ]);
    }
    expect(res.body.metadata).toMatchObject({ time_range: '24h' });
    const openaiId = (await t.db('ai_providers').where({ name: 'openai' }).first('id'))!.id;
    const byId = await get(`/models?provider=${openaiId}&status=available`).expect(200);
    expect(byId.body.data.map((m: { name: string }) => m.name).sort()).toEqual(expected.sort());
    expect(byId.body.data.every((m: object) => !('performance_metrics' in m))).toBe(true);
  });

  it('when providers are listed with include_metrics, then each has health score, uptime, latency, success, requests and monthly spend', async () => {
    const res = await get('/providers?include_metrics=true').expect(200);
    expect(res.body.metadata).toMatchObject({ window: '24h' });
    expect(res.body.data.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['openai', 'anthropic', 'google', 'simulator']),
    );
    for (const p of res.body.data) {
      expect(p).toHaveProperty('health_score');
      expect(p).toMatchObject({ monthly_spend: expect.any(Number), total_requests: expect.any(Number) });
      for (const k of ['uptime', 'response_time', 'success_rate']) expect(p).toHaveProperty(k);
    }
  });
});

describe('JSON API values (a database of its own)', () => {
  // 40 requests of the chatbot over the last 9 hours, to Claude 3.5 Sonnet and GPT-4o mini.
  let own: TestContext;
  let drop: () => Promise<void>;
  let read: { Authorization: string };
  let sonnet: ModelRef;
  let chatbotId: string;
  beforeAll(async () => {
    const db = await ownSeededDatabase('metrics_api');
    drop = db.drop;
    own = startTestApp({ databaseUrl: db.url }, db.db);
    read = { Authorization: `Bearer ${(await makeToken(own.db, 'read')).token}` };
    const models = await modelsByName(own.db);
    const mini = models.get('gpt-4o-mini')!;
    sonnet = models.get('claude-3-5-sonnet-20241022')!;
    chatbotId = (await own.db('ai_features').where({ name: 'chatbot' }).first('id'))!.id;
    const now = Date.now();
    await insertUsage(
      own.db,
      Array.from({ length: 40 }, (_, i) => ({
        feature_id: chatbotId,
        model: i % 3 ? sonnet : mini,
        status: i % 7 ? ('success' as const) : ('error' as const),
        response_time_ms: 100 + i * 37,
        created_at: new Date(now - (5 + i * 13) * MINUTE),
        end_user_id: `u${i % 6}`,
        input_tokens: 10 * i,
        output_tokens: 5 * i,
      })),
    );
  });
  afterAll(async () => {
    await own?.close();
    await drop?.();
  });
  const call = async (path: string) => (await request(own.app).get(`${API}${path}`).set(read).expect(200)).body.data;

  it('when usage is known, then the features endpoint reports what brute force over the raw rows says', async () => {
    const list = await call('/features?include_metrics=true&time_range=24h');
    const feature = bruteSummary(await rawRows(own.db, 'feature_id', chatbotId), '24h', Date.now(), 5);
    expect(differences(list.find((f: { name: string }) => f.name === 'chatbot').metrics, { ...feature, total_requests: 40 })).toEqual([]);
    expect(list.find((f: { name: string }) => f.name === 'ai-search').metrics).toMatchObject({
      total_requests: 0,
      uptime: null,
      error_rate: null,
      p95: null,
    });
  });

  it("when environment= is given (SPEC §4), then the feature figures are that environment's, production by default and all added up on request", async () => {
    // Six staging trials beside the 40 production requests.
    await insertUsage(
      own.db,
      Array.from({ length: 6 }, (_, i) => ({
        feature_id: chatbotId,
        model: sonnet,
        environment: 'staging' as const,
        status: 'error' as const,
        response_time_ms: 9000 + i,
        created_at: new Date(Date.now() - (7 + i) * MINUTE),
      })),
    );
    const rows = await rawRows(own.db, 'feature_id', chatbotId);
    const expected = (environment?: string) =>
      bruteSummary(
        rows.filter((r) => !environment || r.environment === environment),
        '24h',
        Date.now(),
        5,
      );
    const listed = async (query: string) =>
      (await call(`/features?include_metrics=true&time_range=24h${query}`)).find((f: { name: string }) => f.name === 'chatbot').metrics;
    expect(differences(await listed(''), expected('production'))).toEqual([]);
    expect(differences(await listed('&environment=staging'), expected('staging'))).toEqual([]);
    expect(differences(await listed('&environment=all'), expected())).toEqual([]);
    const one = await request(own.app).get(`${API}/features/chatbot/metrics?time_range=24h&environment=staging`).set(read).expect(200);
    expect(one.body.metadata.environment).toBe('staging');
    expect(one.body.data.usage.total_requests).toBe(6);
    const bad = await request(own.app).get(`${API}/features/chatbot/metrics?environment=qa`).set(read).expect(400);
    expect(bad.body.success).toBe(false);
  });

  it('when usage is known, then the models endpoint reports what brute force over the raw rows says', async () => {
    const byModel = await call('/models?include_metrics=true&time_range=1h');
    const s = bruteSummary(await rawRows(own.db, 'model_id', sonnet.id), '1h', Date.now(), 5);
    const pm = byModel.find((m: { name: string }) => m.name === sonnet.name).performance_metrics;
    expect(
      differences(pm, {
        average_response_time: s.response_time,
        success_rate: s.success_rate,
        total_requests: s.total_requests,
        total_cost: s.total_cost,
      }),
    ).toEqual([]);
  });

  it('when usage is known, then the providers endpoint reports what brute force over the raw rows says, health score included', async () => {
    const providers = await call('/providers?include_metrics=true');
    const anthropic = providers.find((p: { name: string }) => p.name === 'anthropic');
    const day = bruteSummary(await rawRows(own.db, 'provider_id', sonnet.provider_id), '24h', Date.now(), 5);
    const health =
      0.5 * day.success_rate! + 0.3 * day.uptime! + 0.2 * Math.min(100, Math.max(0, ((5000 - day.response_time!) / 4500) * 100));
    expect(
      differences(anthropic, {
        health_score: health,
        uptime: day.uptime,
        response_time: day.response_time,
        success_rate: day.success_rate,
        total_requests: day.total_requests,
      }),
    ).toEqual([]);
    expect(providers.find((p: { name: string }) => p.name === 'google')).toMatchObject({
      health_score: null,
      total_requests: 0,
      monthly_spend: 0,
    });
  });
});
