import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { type Deployments, expectRefused, modelNamed, openDeployments, passed } from './setup.ts';

// Deployments the pipeline refuses, check by check (model, provider, smoke request): each refusal is
// stored as a failed deployment with its checks and audited, and the assignment that served stays.

let d: Deployments;
let t: TestContext;
beforeAll(async () => {
  d = await openDeployments();
  ({ t } = d);
});
afterAll(() => d?.close());

describe('POST /api/platform/ai-management/features/:id/models refusals', () => {
  it('when the model is offline, then it answers 422 after the model check alone and the old assignment stays', async () => {
    const feature = await makeFeature(t.db, { required_model_type: 'vision' });
    const before = await d.assigned(feature.id, (await makeModel(t.db, { model_type: 'vision' })).id);
    const offline = await modelNamed(d, 'gpt-4-vision-preview');
    const res = await d.deployTo(feature.id, { model_id: offline.id, environment: 'staging' });
    await expectRefused(d, res, {
      feature,
      before,
      error: /^GPT-4 Vision \(preview\) is offline and cannot be assigned$/,
      checks: [{ name: 'model', ok: false, detail: 'GPT-4 Vision (preview) is offline and cannot be assigned' }],
    });
    expect((await d.healthOf(offline.id)).length).toBe(0);
  });

  it('when a deprecated model is deployed to production, then it is refused there, and the same model is allowed in staging', async () => {
    const feature = await makeFeature(t.db);
    const before = await d.assigned(feature.id, (await makeModel(t.db)).id, 'production');
    const deprecated = await makeModel(t.db, { status: 'deprecated' });
    const res = await d.deployTo(feature.id, { model_id: deprecated.id, environment: 'production' });
    const detail = `${deprecated.display_name} is deprecated and cannot be assigned in production`;
    await expectRefused(d, res, {
      feature,
      before,
      environment: 'production',
      error: new RegExp(`^${detail}$`),
      checks: [{ name: 'model', ok: false, detail }],
    });
    expect((await d.healthOf(deprecated.id)).length).toBe(0);

    const staging = await d.deployTo(feature.id, { model_id: deprecated.id, environment: 'staging' }).expect(201);
    expect(staging.body.data.deployment.checks).toEqual(passed());
    expect((await d.activeRows(feature.id, 'staging')).map((a) => a.model_id)).toEqual([deprecated.id]);
    expect((await d.activeRows(feature.id, 'production')).map((a) => a.id)).toEqual([before.id]);
  });

  it('when the model is of the wrong type (an embedding model for an llm feature), then it answers 422 and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await d.assigned(feature.id, (await makeModel(t.db)).id);
    const embed = await modelNamed(d, 'sim-embed');
    const health = (await d.healthOf(embed.id)).length;
    const error = /^Test feature needs .*\bllm\b.*; Simulated embedding model is .*\bembedding$/;
    const res = await d.deployTo(feature.id, { model_id: embed.id, environment: 'staging' });
    await expectRefused(d, res, { feature, before, error, checks: [{ name: 'model', ok: false, detail: expect.stringMatching(error) }] });
    expect((await d.healthOf(embed.id)).length).toBe(health);
  });

  it('when the provider is inactive (gpt-4o-mini, OpenAI), then the provider check fails, no smoke request is made and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await d.assigned(feature.id, (await makeModel(t.db)).id);
    const mini = await modelNamed(d, 'gpt-4o-mini');
    const health = (await d.healthOf(mini.id)).length;
    const res = await d.deployTo(feature.id, { model_id: mini.id, environment: 'staging' });
    await expectRefused(d, res, {
      feature,
      before,
      error: /^OpenAI is inactive$/,
      checks: [
        { name: 'model', ok: true, detail: expect.stringMatching(/^GPT-4o mini is available\b/) },
        { name: 'provider', ok: false, detail: 'OpenAI is inactive' },
      ],
    });
    expect((await d.healthOf(mini.id)).length).toBe(health);
  });

  it('when the provider is active but has no API key, then the provider check fails and nothing is called', async () => {
    const feature = await makeFeature(t.db);
    const before = await d.assigned(feature.id, (await makeModel(t.db)).id);
    const provider = await makeProvider(t.db, { status: 'active' });
    const model = await makeModel(t.db, { provider_id: provider.id });
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' });
    await expectRefused(d, res, {
      feature,
      before,
      error: new RegExp(`^Provider ${provider.name} has no API key$`),
      checks: [
        { name: 'model', ok: true, detail: expect.any(String) },
        { name: 'provider', ok: false, detail: `Provider ${provider.name} has no API key` },
      ],
    });
    expect((await d.healthOf(model.id)).length).toBe(0);
  });

  it('when the smoke request fails (the simulator answers 503), then the smoke check fails, an error health check is stored and the old assignment stays', async () => {
    const feature = await makeFeature(t.db);
    const before = await d.assigned(feature.id, (await makeModel(t.db)).id);
    const broken = await makeModel(t.db);
    (await d.simulator()).configure(broken.name, { errorRate: 1 });
    const res = await d.deployTo(feature.id, { model_id: broken.id, environment: 'staging' });
    await expectRefused(d, res, {
      feature,
      before,
      error: /^smoke request failed: the provider answered 503$/,
      checks: [
        ...passed().slice(0, 2),
        { name: 'smoke', ok: false, detail: 'smoke request failed: the provider answered 503', latency_ms: expect.any(Number) },
      ],
    });
    const health = await d.healthOf(broken.id);
    expect(health).toHaveLength(1);
    expect(health[0]).toMatchObject({ provider_id: d.simulatorId, kind: 'smoke', status: 'error', error: 'the provider answered 503' });
  });

  it('when the provider does not answer within the timeout, then the smoke check fails with "no answer within 300 ms" in time', async () => {
    const slowApp = startTestApp({ providerTimeoutMs: 300 });
    try {
      const feature = await makeFeature(t.db);
      const before = await d.assigned(feature.id, (await makeModel(t.db)).id, 'staging', slowApp);
      const slow = await makeModel(t.db);
      (await d.simulator(slowApp)).configure(slow.name, { latencyMs: 2000 });
      const started = Date.now();
      const res = await d.deployTo(feature.id, { model_id: slow.id, environment: 'staging' }, d.admin.token, slowApp);
      expect(Date.now() - started).toBeLessThan(1500);
      await expectRefused(d, res, {
        feature,
        before,
        error: /^smoke request failed: no answer within 300 ms$/,
        checks: [
          ...passed().slice(0, 2),
          { name: 'smoke', ok: false, detail: 'smoke request failed: no answer within 300 ms', latency_ms: expect.any(Number) },
        ],
      });
      const health = await d.healthOf(slow.id);
      expect(health).toHaveLength(1);
      expect(health[0]).toMatchObject({ kind: 'smoke', status: 'error', error: 'no answer within 300 ms' });
      expect(health[0].latency_ms).toBeGreaterThanOrEqual(290);
    } finally {
      await slowApp.close();
    }
  });

  it('when the model already serves that environment, then it answers 422 "already serves" and nothing changes', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const before = await d.assigned(feature.id, model.id);
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' });
    const detail = `${model.display_name} already serves staging`;
    await expectRefused(d, res, { feature, before, error: new RegExp(`^${detail}$`), checks: [{ name: 'model', ok: false, detail }] });
    expect((await d.healthOf(model.id)).length).toBe(1); // the first deployment's smoke check only
    expect(await t.db('feature_model_assignments').where({ feature_id: feature.id })).toHaveLength(1);
  });
});
