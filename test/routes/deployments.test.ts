import crypto, { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Providers } from '../../src/providers/index.ts';
import { openAiCompatible } from '../../src/providers/openai-compatible.ts';
import { decryptSecret, encryptSecret } from '../../src/providers/secrets.ts';
import { startTestApp, type TestContext, testConfig } from '../setup/app.ts';
import { makeFeature, makeToken, makeUser, suffix } from '../setup/factories.ts';
import { csrfFor, signIn } from '../setup/session.ts';
import { withUsageDatabase } from '../setup/usage-factory.ts';

// Shared test database and one shared app: every test deploys to features and (simulator) models of
// its own, so the simulator's per-model behaviour set by one test never reaches another.
const BASE = '/api/platform/ai-management';
type Env = 'development' | 'staging' | 'production';
type Row = Record<string, any>;

let t: TestContext;
let admin: { token: string; label: string };
let read: string;
let simulatorId: string;
beforeAll(async () => {
  t = startTestApp();
  const key = await makeToken(t.db, 'admin');
  admin = { token: key.token, label: `token:${key.key.name}` };
  read = (await makeToken(t.db, 'read')).token;
  simulatorId = (await t.db('ai_providers').where({ name: 'simulator' }).first('id')).id;
});
afterAll(() => t.close());

const providersOf = (ctx: TestContext) => ctx.app.locals.providers as Providers;
const simulatorOf = (ctx: TestContext = t) => providersOf(ctx).simulator();

/** A model row of the test's own, under the simulator unless told otherwise. */
async function makeModel(fields: Row = {}): Promise<Row> {
  const name = `m-${suffix()}`;
  const [row] = await t
    .db('ai_models')
    .insert({
      provider_id: simulatorId,
      name,
      display_name: `Model ${name}`,
      model_type: 'llm',
      status: 'available',
      input_price_per_1k: 0,
      output_price_per_1k: 0,
      ...fields,
    })
    .returning('*');
  return row;
}

/** An openai-compatible provider row of the test's own, active, with no key unless told otherwise. */
async function makeProvider(fields: Row = {}): Promise<Row> {
  const name = `p-${suffix()}`;
  const [row] = await t
    .db('ai_providers')
    .insert({
      name,
      display_name: `Provider ${name}`,
      kind: 'openai-compatible',
      base_url: 'http://127.0.0.1:9/v1',
      status: 'active',
      ...fields,
    })
    .returning('*');
  return row;
}

const modelNamed = async (name: string): Promise<Row> => t.db('ai_models').where({ name }).first();

const deployTo = (featureId: string, body: unknown, token = admin.token, ctx: TestContext = t) =>
  request(ctx.app)
    .post(`${BASE}/features/${featureId}/models`)
    .set('Authorization', `Bearer ${token}`)
    .send(body as object);

const activeRows = (featureId: string, environment: Env) =>
  t.db('feature_model_assignments').where({ feature_id: featureId, environment, is_active: true });
const deploymentsOf = (featureId: string) => t.db('deployments').where({ feature_id: featureId }).orderBy('started_at');
const auditOf = (featureId: string) => t.db('audit_log').where({ entity_type: 'feature', entity_id: featureId }).orderBy('id');
const healthOf = (modelId: string) => t.db('health_checks').where({ model_id: modelId }).orderBy('id');
const countOf = async (q: Promise<Row[]>) => (await q).length;

/** The three checks of a deployment that passed them all. */
const passed = () => [
  { name: 'model', ok: true, detail: expect.any(String) },
  { name: 'provider', ok: true, detail: expect.stringMatching(/ is active$/) },
  { name: 'smoke', ok: true, detail: expect.stringMatching(/^answered in \d+ ms$/), latency_ms: expect.any(Number) },
];

/** A successful deployment of the model to the environment: the assignment it made. */
async function assigned(featureId: string, modelId: string, environment: Env = 'staging', ctx: TestContext = t): Promise<Row> {
  const res = await deployTo(featureId, { model_id: modelId, environment }, admin.token, ctx);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data.assignment;
}

/**
 * A refusal: 422 (unless told) with the failed deployment in details, stored as failed with its checks
 * and error, audited as deployment.refused, and the assignment that served before still the only one.
 */
async function expectRefused(
  res: request.Response,
  o: { feature: Row; before: Row; environment?: Env; error: RegExp; checks: unknown[]; status?: number },
) {
  const environment = o.environment ?? 'staging';
  expect(res.status, JSON.stringify(res.body)).toBe(o.status ?? 422);
  expect(res.body).toMatchObject({
    success: false,
    error: expect.stringMatching(o.error),
    details: { deployment: { status: 'failed', feature_id: o.feature.id } },
  });
  const id = res.body.details.deployment.id;
  const row = await t.db('deployments').where({ id }).first();
  expect(row).toMatchObject({
    status: 'failed',
    error: res.body.error,
    environment,
    assignment_id: null,
    previous_model_id: o.before.model_id,
    kind: 'assign',
    requested_by: admin.label,
  });
  expect(row.finished_at).toBeInstanceOf(Date);
  expect(row.checks).toEqual(o.checks);
  expect(res.body.details.deployment.checks).toEqual(o.checks);
  const audit = await t
    .db('audit_log')
    .where({ action: 'deployment.refused', entity_type: 'feature', entity_id: o.feature.id })
    .whereRaw(`after->>'deployment_id' = ?`, [id]);
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({
    actor_type: 'token',
    actor_label: admin.label,
    before: null,
    after: { environment, model_id: row.model_id, deployment_id: id, error: res.body.error },
  });
  const active = await activeRows(o.feature.id, environment);
  expect(active.map((a) => [a.id, a.model_id])).toEqual([[o.before.id, o.before.model_id]]);
  return row;
}

describe('POST /api/platform/ai-management/features/:id/models', () => {
  it('when a healthy simulator model is deployed to staging, then it serves there, with the deployment, its checks, a smoke health check and the audit stored', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(res.body.success).toBe(true);
    const { assignment, deployment } = res.body.data;
    expect(assignment).toMatchObject({
      feature_id: feature.id,
      model_id: model.id,
      environment: 'staging',
      is_active: true,
      deactivated_at: null,
      assigned_by: admin.label,
    });
    expect(deployment).toMatchObject({
      feature_id: feature.id,
      model_id: model.id,
      previous_model_id: null,
      environment: 'staging',
      kind: 'assign',
      status: 'success',
      assignment_id: assignment.id,
      error: null,
    });
    expect(deployment.checks).toEqual(passed());

    const active = await activeRows(feature.id, 'staging');
    expect(active.map((a) => [a.id, a.model_id])).toEqual([[assignment.id, model.id]]);
    expect(await t.db('feature_model_assignments').where({ feature_id: feature.id }).whereNot({ environment: 'staging' })).toEqual([]);
    const [stored] = await deploymentsOf(feature.id);
    expect(stored).toMatchObject({
      id: deployment.id,
      status: 'success',
      assignment_id: assignment.id,
      error: null,
      requested_by: admin.label,
    });
    expect(stored.finished_at).toBeInstanceOf(Date);
    expect(stored.finished_at.getTime()).toBeGreaterThanOrEqual(stored.started_at.getTime());
    expect(stored.checks).toEqual(passed());
    const health = await healthOf(model.id);
    expect(health).toHaveLength(1);
    expect(health[0]).toMatchObject({
      provider_id: simulatorId,
      kind: 'smoke',
      status: 'ok',
      error: null,
      latency_ms: stored.checks[2].latency_ms,
    });
    expect(health[0].latency_ms).toBeGreaterThanOrEqual(40); // the simulator's default latency
    const audit = await auditOf(feature.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'deployment.succeeded',
      actor_type: 'token',
      actor_label: admin.label,
      before: { environment: 'staging', model_id: null },
      after: { environment: 'staging', model_id: model.id, deployment_id: deployment.id, assignment_id: assignment.id },
    });
  });

  it('when a second model is deployed, then the first assignment is deactivated and the deployment names the model it replaced', async () => {
    const feature = await makeFeature(t.db);
    const [first, second] = [await makeModel(), await makeModel()];
    const old = await assigned(feature.id, first.id);
    const res = await deployTo(feature.id, { model_id: second.id, environment: 'staging' }).expect(201);
    const { assignment, deployment } = res.body.data;
    expect(deployment).toMatchObject({ previous_model_id: first.id, model_id: second.id, status: 'success' });

    const rows = await t.db('feature_model_assignments').where({ feature_id: feature.id }).orderBy('assigned_at');
    expect(rows.map((r) => [r.id, r.model_id, r.is_active])).toEqual([
      [old.id, first.id, false],
      [assignment.id, second.id, true],
    ]);
    expect(rows[0].deactivated_at).toBeInstanceOf(Date);
    expect(rows[1].deactivated_at).toBeNull();
    expect((await deploymentsOf(feature.id)).map((d) => [d.status, d.previous_model_id])).toEqual([
      ['success', null],
      ['success', first.id],
    ]);
    const audit = await auditOf(feature.id);
    expect(audit.map((a) => a.action)).toEqual(['deployment.succeeded', 'deployment.succeeded']);
    expect(audit[1]).toMatchObject({
      before: { environment: 'staging', model_id: first.id },
      after: { model_id: second.id, assignment_id: assignment.id },
    });
  });

  it('when the seeded simulator chat model is deployed to each environment, then each environment has its own single active assignment', async () => {
    const feature = await makeFeature(t.db);
    const simChat = await modelNamed('sim-chat');
    for (const environment of ['development', 'staging', 'production'] as const) await assigned(feature.id, simChat.id, environment);
    const rows = await t.db('feature_model_assignments').where({ feature_id: feature.id, is_active: true }).orderBy('environment');
    expect(rows.map((r) => [r.environment, r.model_id])).toEqual([
      ['development', simChat.id],
      ['production', simChat.id],
      ['staging', simChat.id],
    ]);
  });
});

describe('POST /api/platform/ai-management/features/:id/models refusals', () => {
  it('when the model is offline, then it answers 422 after the model check alone and the old assignment stays', async () => {
    const feature = await makeFeature(t.db, { required_model_type: 'vision' });
    const before = await assigned(feature.id, (await makeModel({ model_type: 'vision' })).id);
    const offline = await modelNamed('gpt-4-vision-preview');
    const res = await deployTo(feature.id, { model_id: offline.id, environment: 'staging' });
    await expectRefused(res, {
      feature,
      before,
      error: /^GPT-4 Vision \(preview\) is offline and cannot be assigned$/,
      checks: [{ name: 'model', ok: false, detail: 'GPT-4 Vision (preview) is offline and cannot be assigned' }],
    });
    expect(await countOf(healthOf(offline.id))).toBe(0);
  });

  it('when a deprecated model is deployed to production, then it is refused there, and the same model is allowed in staging', async () => {
    const feature = await makeFeature(t.db);
    const before = await assigned(feature.id, (await makeModel()).id, 'production');
    const deprecated = await makeModel({ status: 'deprecated' });
    const res = await deployTo(feature.id, { model_id: deprecated.id, environment: 'production' });
    const detail = `${deprecated.display_name} is deprecated and cannot be assigned in production`;
    await expectRefused(res, {
      feature,
      before,
      environment: 'production',
      error: new RegExp(`^${detail}$`),
      checks: [{ name: 'model', ok: false, detail }],
    });
    expect(await countOf(healthOf(deprecated.id))).toBe(0);

    const staging = await deployTo(feature.id, { model_id: deprecated.id, environment: 'staging' }).expect(201);
    expect(staging.body.data.deployment.checks).toEqual(passed());
    expect((await activeRows(feature.id, 'staging')).map((a) => a.model_id)).toEqual([deprecated.id]);
    expect((await activeRows(feature.id, 'production')).map((a) => a.id)).toEqual([before.id]);
  });

  it('when the model is of the wrong type (an embedding model for an llm feature), then it answers 422 and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await assigned(feature.id, (await makeModel()).id);
    const embed = await modelNamed('sim-embed');
    const health = await countOf(healthOf(embed.id));
    const error = /^Test feature needs .*\bllm\b.*; Simulated embedding model is .*\bembedding$/;
    const res = await deployTo(feature.id, { model_id: embed.id, environment: 'staging' });
    await expectRefused(res, { feature, before, error, checks: [{ name: 'model', ok: false, detail: expect.stringMatching(error) }] });
    expect(await countOf(healthOf(embed.id))).toBe(health);
  });

  it('when the provider is inactive (gpt-4o-mini, OpenAI), then the provider check fails, no smoke request is made and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await assigned(feature.id, (await makeModel()).id);
    const mini = await modelNamed('gpt-4o-mini');
    const health = await countOf(healthOf(mini.id));
    const res = await deployTo(feature.id, { model_id: mini.id, environment: 'staging' });
    await expectRefused(res, {
      feature,
      before,
      error: /^OpenAI is inactive$/,
      checks: [
        { name: 'model', ok: true, detail: expect.stringMatching(/^GPT-4o mini is available\b/) },
        { name: 'provider', ok: false, detail: 'OpenAI is inactive' },
      ],
    });
    expect(await countOf(healthOf(mini.id))).toBe(health);
  });

  it('when the provider is active but has no API key, then the provider check fails and nothing is called', async () => {
    const feature = await makeFeature(t.db);
    const before = await assigned(feature.id, (await makeModel()).id);
    const provider = await makeProvider();
    const model = await makeModel({ provider_id: provider.id });
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' });
    await expectRefused(res, {
      feature,
      before,
      error: new RegExp(`^Provider ${provider.name} has no API key$`),
      checks: [
        { name: 'model', ok: true, detail: expect.any(String) },
        { name: 'provider', ok: false, detail: `Provider ${provider.name} has no API key` },
      ],
    });
    expect(await countOf(healthOf(model.id))).toBe(0);
  });

  it('when the smoke request fails (the simulator answers 503), then the smoke check fails, an error health check is stored and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await assigned(feature.id, (await makeModel()).id);
    const broken = await makeModel();
    (await simulatorOf()).configure(broken.name, { errorRate: 1 });
    const res = await deployTo(feature.id, { model_id: broken.id, environment: 'staging' });
    await expectRefused(res, {
      feature,
      before,
      error: /^smoke request failed: the provider answered 503$/,
      checks: [
        ...passed().slice(0, 2),
        { name: 'smoke', ok: false, detail: 'smoke request failed: the provider answered 503', latency_ms: expect.any(Number) },
      ],
    });
    const health = await healthOf(broken.id);
    expect(health).toHaveLength(1);
    expect(health[0]).toMatchObject({ provider_id: simulatorId, kind: 'smoke', status: 'error', error: 'the provider answered 503' });
  });

  it('when the provider does not answer within the timeout, then the smoke check fails with "no answer within 300 ms" in time', async () => {
    const slowApp = startTestApp({ providerTimeoutMs: 300 });
    try {
      const feature = await makeFeature(t.db);
      const before = await assigned(feature.id, (await makeModel()).id, 'staging', slowApp);
      const slow = await makeModel();
      (await simulatorOf(slowApp)).configure(slow.name, { latencyMs: 2000 });
      const started = Date.now();
      const res = await deployTo(feature.id, { model_id: slow.id, environment: 'staging' }, admin.token, slowApp);
      expect(Date.now() - started).toBeLessThan(1500);
      await expectRefused(res, {
        feature,
        before,
        error: /^smoke request failed: no answer within 300 ms$/,
        checks: [
          ...passed().slice(0, 2),
          { name: 'smoke', ok: false, detail: 'smoke request failed: no answer within 300 ms', latency_ms: expect.any(Number) },
        ],
      });
      const health = await healthOf(slow.id);
      expect(health).toHaveLength(1);
      expect(health[0]).toMatchObject({ kind: 'smoke', status: 'error', error: 'no answer within 300 ms' });
      expect(health[0].latency_ms).toBeGreaterThanOrEqual(290);
    } finally {
      await slowApp.close();
    }
  });

  it('when the model already serves that environment, then it answers 422 "already serves" and nothing changes', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const before = await assigned(feature.id, model.id);
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' });
    const detail = `${model.display_name} already serves staging`;
    await expectRefused(res, { feature, before, error: new RegExp(`^${detail}$`), checks: [{ name: 'model', ok: false, detail }] });
    expect(await countOf(healthOf(model.id))).toBe(1); // the first deployment's smoke check only
    expect(await t.db('feature_model_assignments').where({ feature_id: feature.id })).toHaveLength(1);
  });
});

describe('POST /api/platform/ai-management/features/:id/models concurrency', () => {
  it('when 20 deployments to one feature and environment race, alternating two models (then 10 more), then one assignment is active and every deployment is settled', async () => {
    const feature = await makeFeature(t.db);
    const models = [await makeModel(), await makeModel()];
    const wave = (n: number) =>
      Promise.all(Array.from({ length: n }, (_v, i) => deployTo(feature.id, { model_id: models[i % 2].id, environment: 'production' })));
    // A second wave starts from a served model, so half of it is refused as "already serves".
    const answers = [...(await wave(20)), ...(await wave(10))];
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 422).length).toBeGreaterThanOrEqual(5);
    expect(
      statuses.filter((s) => ![201, 409, 422].includes(s)),
      JSON.stringify(answers.map((a) => a.body)),
    ).toEqual([]);
    const created = statuses.filter((s) => s === 201).length;
    expect(created).toBeGreaterThanOrEqual(2);

    const active = await activeRows(feature.id, 'production');
    expect(active).toHaveLength(1);
    const deployments = await deploymentsOf(feature.id);
    expect(deployments).toHaveLength(30);
    expect(deployments.filter((d) => d.status === 'in_progress')).toEqual([]);
    const successes = deployments.filter((d) => d.status === 'success');
    expect(successes).toHaveLength(created);
    // Each success made one assignment; the one made last is the one that serves.
    const assignments = await t.db('feature_model_assignments').where({ feature_id: feature.id }).orderBy('assigned_at');
    expect(assignments).toHaveLength(created);
    expect(new Set(successes.map((d) => d.assignment_id))).toEqual(new Set(assignments.map((a) => a.id)));
    expect(assignments.at(-1)!.id).toBe(active[0].id);
    for (const a of assignments.slice(0, -1)) expect([a.is_active, a.deactivated_at === null]).toEqual([false, false]);
    // Refusals say why: a 409 lost the race, a 422 found its model already serving.
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect(a.body.details.deployment.status).toBe('failed');
      expect(a.body.error).toMatch(
        a.status === 409 ? /^Another change to production landed while this deployment ran/ : /already serves production$/,
      );
    }
    const audit = await auditOf(feature.id);
    expect(audit.filter((e) => e.action === 'deployment.succeeded')).toHaveLength(created);
    expect(audit.filter((e) => e.action === 'deployment.refused')).toHaveLength(30 - created);
  });
});

describe('POST /api/platform/ai-management/features/:id/models while the model or provider changes', () => {
  it('when the model is taken offline, or its provider deactivated, while the smoke request runs, then the switch is refused (409) and the old assignment stays', async () => {
    for (const change of ['model offline', 'provider inactive'] as const) {
      const sim = await simulatorOf();
      const provider = await makeProvider({ base_url: sim.url, kind: 'openai-compatible', api_key_ciphertext: null });
      // The simulator kind needs no key; this provider is the simulator behind an address of its own.
      await t.db('ai_providers').where({ id: provider.id }).update({ kind: 'simulator', base_url: null });
      const model = await makeModel({ provider_id: provider.id });
      sim.configure(model.name as string, { latencyMs: 1500 });
      const feature = await makeFeature(t.db);
      const pending = deployTo(feature.id, { model_id: model.id, environment: 'production' }).then((r) => r);
      await new Promise((resolve) => setTimeout(resolve, 400)); // the smoke request is under way
      if (change === 'model offline') await t.db('ai_models').where({ id: model.id }).update({ status: 'offline' });
      else await t.db('ai_providers').where({ id: provider.id }).update({ status: 'inactive' });
      const res = await pending;
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.error).toMatch(/^Changed while this deployment ran: .*(offline|inactive)/);
      expect(await activeRows(feature.id, 'production')).toEqual([]);
      expect((await t.db('deployments').where({ id: res.body.details.deployment.id }).first()).status).toBe('failed');
    }
  });
});

describe('POST /api/platform/ai-management/features/:id/models validation and access', () => {
  const nothingWritten = async (featureId: string) => {
    expect(await deploymentsOf(featureId)).toEqual([]);
    expect(await auditOf(featureId)).toEqual([]);
    expect(await t.db('feature_model_assignments').where({ feature_id: featureId })).toEqual([]);
  };

  it('when the body is invalid (no model_id, not a uuid, environment "qa"), then it answers 422 with field details and writes nothing', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const missing = await deployTo(feature.id, { environment: 'staging' }).expect(422);
    expect(missing.body).toEqual({ success: false, error: 'Invalid deployment', details: { model_id: expect.any(String) } });
    const notUuid = await deployTo(feature.id, { model_id: 'gpt-4o-mini', environment: 'staging' }).expect(422);
    expect(notUuid.body.details).toEqual({ model_id: 'must be the id of a model' });
    const qa = await deployTo(feature.id, { model_id: model.id, environment: 'qa' }).expect(422);
    expect(qa.body.details).toEqual({ environment: 'must be one of development, staging, production' });
    const empty = await deployTo(feature.id, undefined).expect(422);
    expect(Object.keys(empty.body.details).sort()).toEqual(['environment', 'model_id']);
    await nothingWritten(feature.id);
    expect(await countOf(healthOf(model.id))).toBe(0);
  });

  it('when the model id is not a known model, then it answers 422 and writes nothing', async () => {
    const feature = await makeFeature(t.db);
    const res = await deployTo(feature.id, { model_id: crypto.randomUUID(), environment: 'staging' }).expect(422);
    expect(res.body).toEqual({ success: false, error: 'Invalid deployment', details: { model_id: 'is not a known model' } });
    await nothingWritten(feature.id);
  });

  it('when the feature is unknown (by id or by name), then it answers 404', async () => {
    const model = await makeModel();
    const byId = await deployTo(crypto.randomUUID(), { model_id: model.id, environment: 'staging' }).expect(404);
    expect(byId.body).toMatchObject({ success: false, error: 'Feature not found' });
    await deployTo(`no-such-${suffix()}`, { model_id: model.id, environment: 'staging' }).expect(404);
    expect(await t.db('deployments').where({ model_id: model.id })).toEqual([]);
  });

  it('when a viewer session (with its CSRF token) or a read token asks, then it answers 403; with no credentials 401; nothing is written', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const body = { model_id: model.id, environment: 'staging' };
    const viewer = await makeUser(t.db, 'viewer');
    const agent = await signIn(t.app, viewer.email, viewer.password);
    const csrf = await csrfFor(agent);
    const bySession = await agent.post(`${BASE}/features/${feature.id}/models`).set('x-csrf-token', csrf).send(body).expect(403);
    expect(bySession.body).toMatchObject({ success: false, error: 'Only admins can make changes' });
    const byToken = await deployTo(feature.id, body, read).expect(403);
    expect(byToken.body).toMatchObject({ success: false, error: 'Only admins can make changes' });
    const anonymous = await request(t.app).post(`${BASE}/features/${feature.id}/models`).send(body).expect(401);
    expect(anonymous.body).toMatchObject({ success: false, error: 'Authentication required' });
    await deployTo(feature.id, body, 'sb_not-a-real-token').expect(401);
    await nothingWritten(feature.id);
    expect(await countOf(healthOf(model.id))).toBe(0);
  });

  it("when an admin session deploys, then it needs the CSRF token, and with it the deployment succeeds in the admin's name", async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const user = await makeUser(t.db, 'admin');
    const agent = await signIn(t.app, user.email, user.password);
    const body = { model_id: model.id, environment: 'development' };
    await agent.post(`${BASE}/features/${feature.id}/models`).send(body).expect(403);
    await nothingWritten(feature.id);
    const res = await agent
      .post(`${BASE}/features/${feature.id}/models`)
      .set('x-csrf-token', await csrfFor(agent))
      .send(body)
      .expect(201);
    expect(res.body.data.deployment).toMatchObject({ status: 'success', requested_by: user.email });
    expect(await auditOf(feature.id)).toMatchObject([{ action: 'deployment.succeeded', actor_type: 'user', actor_id: user.id }]);
  });
});

describe('provider credentials', () => {
  it('when a provider has an encrypted key, then deploying through it succeeds and the key shows nowhere: response, deployment row, logs', async () => {
    const sim = await simulatorOf();
    const secret = `sk-test-${suffix()}${suffix()}${suffix()}`;
    const id = randomUUID();
    const sealed = encryptSecret(testConfig().secretsKey, secret, id);
    const provider = await makeProvider({ id, base_url: sim.url, api_key_ciphertext: sealed, api_key_last4: secret.slice(-4) });
    const model = await makeModel({ provider_id: provider.id });
    const feature = await makeFeature(t.db);
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(res.body.data.deployment.checks).toEqual(passed());
    expect(res.text).not.toContain(secret);
    expect(res.text).not.toContain(sealed.toString('base64'));
    const row = await t.db('deployments').where({ id: res.body.data.deployment.id }).first();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(await healthOf(model.id))).not.toContain(secret);
    expect(JSON.stringify(await auditOf(feature.id))).not.toContain(secret);
    const list = await request(t.app).get(`${BASE}/deployments?limit=200`).set('Authorization', `Bearer ${read}`).expect(200);
    expect(list.text).not.toContain(secret);
    expect(t.logs()).not.toContain(secret);
    expect(t.logs()).not.toContain(sealed.toString('base64'));
  });

  it('when a key is sealed, then it opens with the same key and owner only, and an altered ciphertext throws', () => {
    const key = testConfig().secretsKey;
    const secret = `sk-${suffix()}-ünïcode`;
    const owner = randomUUID();
    const sealed = encryptSecret(key, secret, owner);
    expect(decryptSecret(key, sealed, owner)).toBe(secret);
    expect(sealed.includes(Buffer.from(secret))).toBe(false);
    expect(encryptSecret(key, secret, owner).equals(sealed)).toBe(false); // a fresh IV each time
    for (const at of [0, 12, 28, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[at] ^= 1;
      expect(() => decryptSecret(key, tampered, owner)).toThrow();
    }
    expect(() => decryptSecret(Buffer.alloc(32, 8), sealed, owner)).toThrow();
    expect(() => decryptSecret(key, sealed.subarray(0, 20), owner)).toThrow();
    expect(() => decryptSecret(key, sealed, randomUUID())).toThrow(); // copied to another provider row
  });

  it('when a sealed key is copied to another provider row, then it does not open there and nothing is sent with it', async () => {
    const sim = await simulatorOf();
    const owner = await makeProvider({ base_url: sim.url, status: 'inactive' });
    const sealed = encryptSecret(testConfig().secretsKey, `sk-${suffix()}${suffix()}`, owner.id as string);
    const thief = await makeProvider({ base_url: sim.url, api_key_ciphertext: sealed, api_key_last4: 'abcd' });
    const model = await makeModel({ provider_id: thief.id });
    const feature = await makeFeature(t.db);
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/API key that cannot be read/);
  });
});

describe('provider credentials that no longer decrypt', () => {
  it('when the stored key was sealed under another SECRETS_KEY, then the provider check fails (422) and the deployment is finished, not left in progress', async () => {
    const sim = await simulatorOf();
    const id = randomUUID();
    const provider = await makeProvider({
      id,
      base_url: sim.url,
      api_key_ciphertext: encryptSecret(Buffer.alloc(32, 9), 'sk-x', id),
      api_key_last4: '-key',
    });
    const model = await makeModel({ provider_id: provider.id });
    const feature = await makeFeature(t.db);
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/API key that cannot be read/);
    const row = await t.db('deployments').where({ id: res.body.details.deployment.id }).first();
    expect(row).toMatchObject({ status: 'failed' });
    expect(row.finished_at).not.toBeNull();
    expect(row.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['model', true],
      ['provider', false],
    ]);
  });
});

describe('PUT /api/platform/ai-management/simulator/models/:name', () => {
  it('when an admin makes a simulator model fail, then the next deployment of it is refused at the smoke check; bad input is 422, viewers 403', async () => {
    const model = await makeModel();
    const feature = await makeFeature(t.db);
    const put = (body: object, token = admin.token) =>
      request(t.app).put(`${BASE}/simulator/models/${model.name}`).set('Authorization', `Bearer ${token}`).send(body);
    await put({ latency_ms: 10, error_rate: 2 }).expect(422);
    await put({ latency_ms: 10, error_rate: 1 }, read).expect(403);
    await request(t.app)
      .put(`${BASE}/simulator/models/gpt-4o`)
      .set('Authorization', `Bearer ${admin.token}`)
      .send({ latency_ms: 10, error_rate: 1 })
      .expect(404);
    expect((await put({ latency_ms: 10, error_rate: 1 }).expect(200)).body.data).toEqual({
      model: model.name,
      latency_ms: 10,
      error_rate: 1,
    });
    const res = await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/smoke request failed/);
    await put({ latency_ms: 10, error_rate: 0 }).expect(200);
    await deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(await t.db('audit_log').where({ action: 'simulator.configured', entity_id: model.id }).count({ n: '*' })).toEqual([{ n: 2 }]);
  });
});

describe('deployments a stopped server left in progress', () => {
  it('when the job runs, then in-progress deployments older than any can run are finished as failed, and a running one is left alone', async () => {
    const { run } = await import('../../src/jobs/deployments.ts');
    const feature = await makeFeature(t.db);
    const model = await makeModel();
    const row = (startedAt: Date) => ({
      feature_id: feature.id,
      model_id: model.id,
      environment: 'staging',
      kind: 'assign',
      requested_by: 'test',
      started_at: startedAt,
    });
    const [stale] = await t
      .db('deployments')
      .insert(row(new Date(Date.now() - 5 * 60_000)))
      .returning('id');
    const [running] = await t.db('deployments').insert(row(new Date())).returning('id');
    expect((await run({ db: t.db, now: new Date() })).interrupted).toBeGreaterThanOrEqual(1);
    expect(await t.db('deployments').where({ id: stale.id }).first('status', 'error')).toEqual({
      status: 'failed',
      error: expect.stringMatching(/^interrupted/),
    });
    expect(await t.db('deployments').where({ id: running.id }).first('status')).toEqual({ status: 'in_progress' });
    await t.db('deployments').where({ id: running.id }).update({ status: 'failed', error: 'test over', finished_at: new Date() });
  });
});

describe('GET /api/platform/ai-management/deployments', () => {
  const list = (query: string, token = read) => request(t.app).get(`${BASE}/deployments${query}`).set('Authorization', `Bearer ${token}`);

  it('when paged, then pages are newest first, fit together, and the total is the count of all deployments', async () => {
    // A database of its own: other test files deploy at the same time, and paging is about order.
    await withUsageDatabase(async (db, url) => {
      const own = startTestApp({ databaseUrl: url }, db);
      try {
        const [adminToken, readToken] = [(await makeToken(db, 'admin')).token, (await makeToken(db, 'read')).token];
        const simulator = await db('ai_providers').where({ kind: 'simulator' }).first('id');
        const models = await db('ai_models')
          .insert(
            [1, 2, 3].map((i) => ({
              provider_id: simulator.id,
              name: `page-${i}`,
              display_name: `Page ${i}`,
              model_type: 'llm',
              input_price_per_1k: 0,
              output_price_per_1k: 0,
            })),
          )
          .returning('*');
        const feature = await makeFeature(db);
        for (const m of models) await deployTo(feature.id, { model_id: m.id, environment: 'staging' }, adminToken, own).expect(201);
        const n = Number((await db('deployments').count({ n: '*' }))[0].n);
        const ownList = (query: string) => request(own.app).get(`${BASE}/deployments${query}`).set('Authorization', `Bearer ${readToken}`);
        const all = await ownList('?limit=6&offset=0').expect(200);
        expect(all.body.success).toBe(true);
        expect(all.body.metadata).toEqual({ limit: 6, offset: 0, total: n });
        expect(all.body.data).toHaveLength(Math.min(6, n));
        // The three just made are the newest, newest first.
        expect(all.body.data.slice(0, 3).map((d: Row) => d.model_id)).toEqual(models.map((m: Row) => m.id).reverse());
        expect(all.body.data[0]).toMatchObject({
          feature_id: feature.id,
          feature_name: feature.name,
          status: 'success',
          kind: 'assign',
          previous_model_id: models[1].id,
          checks: passed(),
        });
        const times = all.body.data.map((d: Row) => d.started_at);
        expect([...times].sort().reverse()).toEqual(times);
        const first = await ownList('?limit=2&offset=0').expect(200);
        const second = await ownList('?limit=2&offset=2').expect(200);
        expect([...first.body.data, ...second.body.data].map((d: Row) => d.id)).toEqual(all.body.data.slice(0, 4).map((d: Row) => d.id));
        expect(second.body.metadata).toEqual({ limit: 2, offset: 2, total: n });
        const past = await ownList(`?limit=5&offset=${n}`).expect(200);
        expect(past.body).toMatchObject({ data: [], metadata: { total: n } });
        const defaults = await ownList('').expect(200);
        expect(defaults.body.metadata).toMatchObject({ limit: 50, offset: 0 });
      } finally {
        await own.app.close();
      }
    });
  });

  it('when limit is 0 to 200 it is allowed; limit=500, a negative or fractional value, or offset=-1 answers 400', async () => {
    expect((await list('?limit=0').expect(200)).body.data).toEqual([]);
    expect((await list('?limit=200').expect(200)).body.metadata.limit).toBe(200);
    for (const q of ['?limit=500', '?limit=201', '?limit=-1', '?limit=1.5', '?limit=abc', '?offset=-1', '?offset=x']) {
      const res = await list(q);
      expect([q, res.status]).toEqual([q, 400]);
      expect(res.body.success).toBe(false);
    }
    expect((await list('?limit=500').expect(400)).body.error).toBe('limit must be a whole number from 0 to 200');
  });

  it('when an ingest token or nobody asks, then it answers 403 or 401', async () => {
    await list('', (await makeToken(t.db, 'ingest')).token).expect(403);
    await request(t.app).get(`${BASE}/deployments`).expect(401);
  });
});

describe('GET /api/platform/ai-management/features/:id/models', () => {
  it('when a feature has had models, then it lists the active assignments and the whole history, newest first', async () => {
    const feature = await makeFeature(t.db);
    const [a, b, c] = [await makeModel(), await makeModel(), await makeModel()];
    const first = await assigned(feature.id, a.id, 'staging');
    const second = await assigned(feature.id, b.id, 'staging');
    const prod = await assigned(feature.id, c.id, 'production');
    const res = await request(t.app).get(`${BASE}/features/${feature.id}/models`).set('Authorization', `Bearer ${read}`).expect(200);
    expect(res.body.success).toBe(true);
    const { active, history } = res.body.data;
    expect(history.map((h: Row) => [h.id, h.environment, h.model_display_name, h.is_active])).toEqual([
      [prod.id, 'production', c.display_name, true],
      [second.id, 'staging', b.display_name, true],
      [first.id, 'staging', a.display_name, false],
    ]);
    expect(history[2].deactivated_at).not.toBeNull();
    expect(history[0]).toMatchObject({ provider_display_name: 'Simulator', assigned_by: admin.label });
    expect(active.map((h: Row) => h.id)).toEqual([prod.id, second.id]);
    // By name too, and an unknown feature is 404.
    const byName = await request(t.app).get(`${BASE}/features/${feature.name}/models`).set('Authorization', `Bearer ${read}`).expect(200);
    expect(byName.body.data.history).toHaveLength(3);
    await request(t.app).get(`${BASE}/features/${crypto.randomUUID()}/models`).set('Authorization', `Bearer ${read}`).expect(404);
  });

  it('when a feature never had a model, then both lists are empty', async () => {
    const feature = await makeFeature(t.db);
    const res = await request(t.app).get(`${BASE}/features/${feature.id}/models`).set('Authorization', `Bearer ${read}`).expect(200);
    expect(res.body.data).toEqual({ active: [], history: [] });
  });
});

describe('openAiCompatible', () => {
  let server: http.Server;
  let url: string;
  const hits: string[] = [];
  const auth: (string | undefined)[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      auth.push(req.headers.authorization);
      if (req.url?.startsWith('/landed')) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      if (req.url?.startsWith('/html'))
        return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>Sign in to the proxy</html>');
      if (req.url?.startsWith('/huge'))
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(`{"data":[${'1,'.repeat(200_000)}1]}`);
      res.writeHead(302, { Location: `${url}/landed${req.url}` }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('when the provider answers 302, then the call fails with a redirect error and the redirect is not followed', async () => {
    const adapter = openAiCompatible({ baseUrl: `${url}/v1/`, apiKey: 'sk-redirect-test', timeoutMs: 2000 });
    const smoke = await adapter.smoke('any-model', 'llm');
    expect(smoke).toEqual({
      ok: false,
      latencyMs: expect.any(Number),
      error: 'the provider answered with a redirect (302), which is not followed',
    });
    const embed = await adapter.smoke('any-model', 'embedding');
    expect(embed.ok).toBe(false);
    const probe = await adapter.probe();
    expect(probe.error).toMatch(/redirect \(302\)/);
    expect(hits).toEqual(['POST /v1/chat/completions', 'POST /v1/embeddings', 'GET /v1/models']);
    expect(auth).toEqual(new Array(3).fill('Bearer sk-redirect-test'));
  });

  it('when something other than the API answers 200 (a page, or an answer far too large), then the call fails', async () => {
    const html = await openAiCompatible({ baseUrl: `${url}/html/v1`, timeoutMs: 2000 }).smoke('any-model', 'llm');
    expect(html).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'the answer is not an OpenAI-compatible response' });
    const huge = await openAiCompatible({ baseUrl: `${url}/huge/v1`, timeoutMs: 2000 }).probe();
    expect(huge.error).toBe('the answer is not an OpenAI-compatible response');
  });

  it('when nothing listens at the address, then the call fails as unreachable', async () => {
    const res = await openAiCompatible({ baseUrl: 'http://127.0.0.1:9/v1', timeoutMs: 2000 }).probe();
    expect(res).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'the provider could not be reached' });
  });
});
