import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken } from '../setup/factories.ts';
import { postUsage, usageEvent } from '../setup/usage-api.ts';

// Shared test database: every test sends usage for a feature of its own.
let t: TestContext;
let ingest: string;
beforeAll(async () => {
  t = startTestApp();
  ingest = (await makeToken(t.db, 'ingest')).token;
});
afterAll(() => t.close());

const post = (events: unknown[]) => postUsage(t.app, ingest, { events });
const ev = (feature: string, extra: Record<string, unknown> = {}) => usageEvent('w', feature, extra);

describe('POST /api/v1/usage, fields it does not know', () => {
  it('when an event says user_id instead of end_user_id, then it is accepted and the answer warns, naming the field meant', async () => {
    const f = await makeFeature(t.db);
    const res = await post([ev(f.name, { end_user_id: 'u-1' }), ev(f.name, { user_id: 'u-2' })]).expect(200);
    expect(res.body).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [],
      warnings: [{ index: 1, field: 'user_id', message: 'unknown field user_id (did you mean end_user_id?)' }],
    });
    // One insert statement: the ids need not follow the batch's order.
    const rows = await t.db('ai_usage_logs').where({ feature_id: f.id }).pluck('end_user_id');
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(expect.arrayContaining(['u-1', null]));
  });

  it.each([
    ['latency_ms', 'response_time_ms'],
    ['duration_ms', 'response_time_ms'],
    ['tokens_in', 'input_tokens'],
    ['prompt_tokens', 'input_tokens'],
    ['tokens_out', 'output_tokens'],
    ['completion_tokens', 'output_tokens'],
    ['cost', 'cost_usd'],
    ['env', 'environment'],
    ['timestamp', 'created_at'],
    ['time', 'created_at'],
    ['id', 'event_id'],
    ['endUserId', 'end_user_id'],
    ['responseTimeMs', 'response_time_ms'],
    ['total_tokens', 'input_tokens and output_tokens'],
  ])('when an event carries %s, then the warning suggests %s', async (field, meant) => {
    const f = await makeFeature(t.db);
    const res = await post([ev(f.name, { [field]: 1 })]).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.warnings).toEqual([{ index: 0, field, message: `unknown field ${field} (did you mean ${meant}?)` }]);
  });

  it('when a field resembles nothing, then the warning says it is ignored; a rejected event is warned about too, which explains the rejection', async () => {
    const f = await makeFeature(t.db);
    const { response_time_ms: _dropped, ...withoutLatency } = ev(f.name, { latency_ms: 300 });
    const res = await post([ev(f.name, { colour: 'blue' }), withoutLatency]).expect(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual([{ index: 1, error: 'response_time_ms must be a number of milliseconds' }]);
    expect(res.body.warnings).toEqual([
      { index: 0, field: 'colour', message: 'unknown field colour (ignored)' },
      { index: 1, field: 'latency_ms', message: 'unknown field latency_ms (did you mean response_time_ms?)' },
    ]);
  });

  it('when every field is known (feature_id and model_id included), then the answer has no warnings', async () => {
    const f = await makeFeature(t.db);
    const model = (await t.db('ai_models').where({ name: 'gpt-4o-mini' }).first('id'))!;
    const { feature: _f, model: _m, ...rest } = ev(f.name);
    const full = {
      ...rest,
      feature_id: f.id,
      model_id: model.id,
      provider: 'openai',
      environment: 'staging',
      end_user_id: 'u-9',
      input_tokens: 10,
      output_tokens: 5,
      cost_usd: 0.01,
      created_at: new Date().toISOString(),
    };
    const res = await post([full]).expect(200);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('when every event of a big batch has the same mistake, then the answer stops at 100 warnings', async () => {
    const f = await makeFeature(t.db);
    const res = await post(Array.from({ length: 300 }, () => ev(f.name, { user_id: 'u' }))).expect(200);
    expect(res.body.accepted).toBe(300);
    expect(res.body.warnings).toHaveLength(100);
    expect(res.body.warnings[99]).toMatchObject({ index: 99, field: 'user_id' });
  });
});
