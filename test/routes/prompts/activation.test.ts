import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeToken } from '../../setup/factories.ts';
import { openPrompts, type Prompts } from './setup.ts';

// Activating a prompt version through the deployment pipeline (issue 15): the checks in order —
// render with the sample values, fit the context window, a live smoke request of the rendered prompt
// with the environment's model — each refusal stored with its checks and the active pointer unmoved;
// then the switch, one active version per feature and environment, seen at once by the runtime config.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const activate = (featureId: string, version: number, body: object) =>
  p.api('post', `/features/${featureId}/prompts/${version}/activate`).send(body);

async function expectRefusedAt(res: request.Response, featureId: string, failed: string, detail: RegExp, before: number | null) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body).toMatchObject({
    success: false,
    error: expect.stringMatching(detail),
    details: { deployment: { status: 'failed', subject: 'prompt' } },
  });
  const checks: { name: string; ok: boolean }[] = res.body.details.checks;
  expect(checks.at(-1)).toMatchObject({ name: failed, ok: false });
  expect(checks.slice(0, -1).every((c) => c.ok)).toBe(true);
  const row = await p.t.db('deployments').where({ id: res.body.details.deployment.id }).first();
  expect(row).toMatchObject({ status: 'failed', subject: 'prompt', checks });
  expect(await p.activeVersion(featureId, 'staging')).toBe(before);
}

describe('POST /api/platform/ai-management/features/:id/prompts/:version/activate', () => {
  it('when every check passes, then 201 with the deployment and its three checks, the version is the one active, and the move is audited', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'Hello {{name}}', sample_values: { name: 'Ada' }, params: { max_tokens: 100 } });
    const res = await activate(feature.id, 1, { environment: 'staging', reason: 'first prompt' }).expect(201);
    expect(res.body.data.deployment).toMatchObject({
      status: 'success',
      subject: 'prompt',
      kind: 'assign',
      model_id: model.id,
      reason: 'first prompt',
    });
    expect(res.body.data.deployment.checks).toEqual([
      { name: 'render', ok: true, detail: 'renders with the sample values of its 1 variable' },
      {
        name: 'context',
        ok: true,
        detail: `about 3 prompt tokens (4 characters a token) + 100 max_tokens fit the 8,192-token context window of ${model.display_name}`,
      },
      { name: 'smoke', ok: true, detail: expect.stringMatching(/^answered in \d+ ms$/), latency_ms: expect.any(Number) },
    ]);
    expect(await p.activeVersion(feature.id, 'staging')).toBe(1);
    expect(await p.activeVersion(feature.id, 'production')).toBeNull();
    const audit = await p.t.db('audit_log').where({ entity_id: feature.id, action: 'prompt.activated' }).first();
    expect(audit).toMatchObject({
      actor_label: p.token.label,
      before: { environment: 'staging', prompt_version_id: null },
      after: { version: 1, reason: 'first prompt' },
    });
  });

  it('when a variable has no sample value, then the render check refuses it (never an empty string) and the pointer stays', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'Hi {{name}}', sample_values: { name: 'x' } });
    await p.activated(feature.id, 1, 'staging');
    await p.saved(feature.id, { template: 'Hi {{name}} from {{city}}', sample_values: { name: 'x' } });
    const smokes = await p.t.db('health_checks').where({ model_id: model.id }).count<{ n: string }[]>({ n: '*' });
    const res = await activate(feature.id, 2, { environment: 'staging' });
    await expectRefusedAt(res, feature.id, 'render', /^no sample value for \{\{city\}\}: the template cannot render$/, 1);
    expect(res.body.details.checks).toHaveLength(1);
    // No smoke request was sent.
    expect(await p.t.db('health_checks').where({ model_id: model.id }).count<{ n: string }[]>({ n: '*' })).toEqual(smokes);
  });

  it("when the prompt and max_tokens do not fit the model's context window, then the context check refuses it", async () => {
    const { feature } = await p.feature({ context_window: 1000 });
    await p.saved(feature.id, { template: 'Short' });
    await p.activated(feature.id, 1, 'staging');
    await p.saved(feature.id, { template: `Long ${'w'.repeat(3000)}`, params: { max_tokens: 500 } });
    const res = await activate(feature.id, 2, { environment: 'staging' });
    await expectRefusedAt(
      res,
      feature.id,
      'context',
      /^about 752 prompt tokens .* \+ 500 max_tokens do not fit the 1,000-token context window/,
      1,
    );
  });

  it('when the model has no known context window, then the context check passes and says it was not checked', async () => {
    const { feature } = await p.feature({ context_window: null });
    await p.saved(feature.id, { template: 'Anything' });
    const res = await activate(feature.id, 1, { environment: 'staging' }).expect(201);
    expect(res.body.data.deployment.checks[1]).toMatchObject({
      name: 'context',
      ok: true,
      detail: expect.stringMatching(/^not checked: the context window of .* is not known/),
    });
  });

  it("when the environment's model fails the smoke request (the simulator's error rate), then the smoke check refuses it and the pointer stays", async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'v1' });
    await p.activated(feature.id, 1, 'staging');
    await p.saved(feature.id, { template: 'v2' });
    (await p.t.app.providers.simulator()).configure(model.name, { errorRate: 1 });
    const res = await activate(feature.id, 2, { environment: 'staging' });
    await expectRefusedAt(res, feature.id, 'smoke', /^smoke request failed: the provider answered 503$/, 1);
  });

  it('when the version is already active, unknown, or no model serves the environment, then 422 before any deployment starts', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'v1' });
    await p.activated(feature.id, 1, 'staging');
    const again = await activate(feature.id, 1, { environment: 'staging' }).expect(422);
    expect(again.body.details).toEqual({ version: 'is already active in staging' });
    await activate(feature.id, 7, { environment: 'staging' }).expect(404);
    const bad = await activate(feature.id, 1, { environment: 'moon' }).expect(422);
    expect(bad.body.details).toEqual({ environment: 'must be one of development, staging, production' });
    const { feature: unserved } = await p.feature();
    await p.t.db('feature_model_assignments').where({ feature_id: unserved.id, environment: 'development' }).delete();
    await p.saved(unserved.id, { template: 'x' });
    const none = await activate(unserved.id, 1, { environment: 'development' }).expect(422);
    expect(none.body.details).toEqual({ environment: 'has no model to check the prompt with' });
    expect(await p.t.db('deployments').where({ feature_id: feature.id, status: 'failed' })).toEqual([]);
  });

  it('when a read token or a viewer activates, then 403 and nothing moves', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'v1' });
    await p.api('post', `/features/${feature.id}/prompts/1/activate`, p.readToken).send({ environment: 'staging' }).expect(403);
    await p.viewer.agent
      .post(`/api/platform/ai-management/features/${feature.id}/prompts/1/activate`)
      .set('X-CSRF-Token', p.viewer.csrf)
      .send({ environment: 'staging' })
      .expect(403);
    expect(await p.activeVersion(feature.id, 'staging')).toBeNull();
  });
});

describe('the runtime config, promotion and rollback', () => {
  it('when a version is activated, then the runtime config answers 304 until then and the new template with a new ETag after', async () => {
    const { feature } = await p.feature();
    const read = (await makeToken(p.t.db, 'read')).token;
    const config = (etag?: string) => {
      const r = request(p.t.app).get(`/api/v1/features/${feature.name}/config?environment=staging`).set('Authorization', `Bearer ${read}`);
      return etag ? r.set('If-None-Match', etag) : r;
    };
    await p.saved(feature.id, { template: 'Answer {{q}}', sample_values: { q: 'why' }, params: { temperature: 0.3 } });
    await p.activated(feature.id, 1, 'staging');
    const first = await config().expect(200);
    expect(first.body.prompt).toEqual({
      id: expect.any(String),
      version: 1,
      template: 'Answer {{q}}',
      params: { temperature: 0.3 },
      variables: ['q'],
      content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    await p.saved(feature.id, { template: 'Answer briefly {{q}}', sample_values: { q: 'why' } });
    await config(first.headers.etag).expect(304); // a saved version changes nothing until it is activated
    await p.activated(feature.id, 2, 'staging');
    const second = await config(first.headers.etag).expect(200);
    expect(second.headers.etag).not.toBe(first.headers.etag);
    expect(second.body.prompt).toMatchObject({ version: 2, template: 'Answer briefly {{q}}' });
  });

  it('when an earlier version is activated, then it is a rollback; the activation keeps what was active before', async () => {
    const { feature } = await p.feature();
    const v1 = await p.saved(feature.id, { template: 'one' });
    const v2 = await p.saved(feature.id, { template: 'two' });
    await p.activated(feature.id, 1, 'production');
    await p.activated(feature.id, 2, 'production');
    const res = await activate(feature.id, 1, { environment: 'production', reason: 'v2 answers worse' }).expect(201);
    expect(res.body.data.deployment).toMatchObject({ kind: 'rollback', prompt_version_id: v1.id, previous_prompt_version_id: v2.id });
    expect(res.body.data.activation).toMatchObject({ prompt_version_id: v1.id, previous_version_id: v2.id, is_active: true });
    expect(await p.activeVersion(feature.id, 'production')).toBe(1);
    const active = await p.t.db('prompt_activations').where({ feature_id: feature.id, environment: 'production', is_active: true });
    expect(active).toHaveLength(1);
    const audit = await p.t.db('audit_log').where({ entity_id: feature.id, action: 'prompt.rolled_back' }).first();
    expect(audit).toMatchObject({ before: { prompt_version_id: v2.id }, after: { prompt_version_id: v1.id, reason: 'v2 answers worse' } });
  });

  it('when staging is promoted through the form, then its version becomes active in production with kind promote', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'one' });
    await p.saved(feature.id, { template: 'two' });
    await p.activated(feature.id, 1, 'production');
    await p.activated(feature.id, 2, 'staging');
    await p.admin.agent
      .post(`/platform/ai-management/features/${feature.name}/prompts/promote`)
      .type('form')
      .send({ _csrf: p.admin.csrf, from: 'staging', reason: 'good in staging' })
      .expect(303)
      .expect('location', `/platform/ai-management/features?feature=${feature.name}&tab=prompts`);
    expect(await p.activeVersion(feature.id, 'production')).toBe(2);
    const last = await p.t
      .db('deployments')
      .where({ feature_id: feature.id, environment: 'production' })
      .orderBy('started_at', 'desc')
      .first();
    expect(last).toMatchObject({ kind: 'promote', status: 'success', subject: 'prompt', reason: 'good in staging' });
  });
});
