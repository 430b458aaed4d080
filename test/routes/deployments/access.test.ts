import crypto from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel, suffix } from '../../setup/factories.ts';
import { csrfFor, signInAs } from '../../setup/session.ts';
import { API, type Deployments, openDeployments } from './setup.ts';

// Who may deploy and with what: the body is validated and the feature found before anything is
// written; viewers, read tokens and sessions without their CSRF token are refused.

let d: Deployments;
let t: TestContext;
beforeAll(async () => {
  d = await openDeployments();
  ({ t } = d);
});
afterAll(() => d?.close());

describe('POST /api/platform/ai-management/features/:id/models validation and access', () => {
  const nothingWritten = async (featureId: string) => {
    expect(await d.deploymentsOf(featureId)).toEqual([]);
    expect(await d.auditOf(featureId)).toEqual([]);
    expect(await t.db('feature_model_assignments').where({ feature_id: featureId })).toEqual([]);
  };

  it('when the body is invalid (no model_id, not a uuid, environment "qa"), then it answers 422 with field details and writes nothing', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const missing = await d.deployTo(feature.id, { environment: 'staging' }).expect(422);
    expect(missing.body).toEqual({ success: false, error: 'Invalid deployment', details: { model_id: expect.any(String) } });
    const notUuid = await d.deployTo(feature.id, { model_id: 'gpt-4o-mini', environment: 'staging' }).expect(422);
    expect(notUuid.body.details).toEqual({ model_id: 'must be the id of a model' });
    const qa = await d.deployTo(feature.id, { model_id: model.id, environment: 'qa' }).expect(422);
    expect(qa.body.details).toEqual({ environment: 'must be one of development, staging, production' });
    const empty = await d.deployTo(feature.id, undefined).expect(422);
    expect(Object.keys(empty.body.details).sort()).toEqual(['environment', 'model_id']);
    await nothingWritten(feature.id);
    expect((await d.healthOf(model.id)).length).toBe(0);
  });

  it('when the model id is not a known model, then it answers 422 and writes nothing', async () => {
    const feature = await makeFeature(t.db);
    const res = await d.deployTo(feature.id, { model_id: crypto.randomUUID(), environment: 'staging' }).expect(422);
    expect(res.body).toEqual({ success: false, error: 'Invalid deployment', details: { model_id: 'is not a known model' } });
    await nothingWritten(feature.id);
  });

  it('when the feature is unknown (by id or by name), then it answers 404', async () => {
    const model = await makeModel(t.db);
    const byId = await d.deployTo(crypto.randomUUID(), { model_id: model.id, environment: 'staging' }).expect(404);
    expect(byId.body).toMatchObject({ success: false, error: 'Feature not found' });
    await d.deployTo(`no-such-${suffix()}`, { model_id: model.id, environment: 'staging' }).expect(404);
    expect(await t.db('deployments').where({ model_id: model.id })).toEqual([]);
  });

  it('when a viewer session (with its CSRF token) or a read token asks, then it answers 403; with no credentials 401; nothing is written', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const body = { model_id: model.id, environment: 'staging' };
    const { agent } = await signInAs(t, 'viewer');
    const csrf = await csrfFor(agent);
    const bySession = await agent.post(`${API}/features/${feature.id}/models`).set('x-csrf-token', csrf).send(body).expect(403);
    expect(bySession.body).toMatchObject({ success: false, error: 'Only admins can make changes' });
    const byToken = await d.deployTo(feature.id, body, d.readToken).expect(403);
    expect(byToken.body).toMatchObject({ success: false, error: 'Only admins can make changes' });
    const anonymous = await request(t.app).post(`${API}/features/${feature.id}/models`).send(body).expect(401);
    expect(anonymous.body).toMatchObject({ success: false, error: 'Authentication required' });
    await d.deployTo(feature.id, body, 'sb_not-a-real-token').expect(401);
    await nothingWritten(feature.id);
    expect((await d.healthOf(model.id)).length).toBe(0);
  });

  it("when an admin session deploys, then it needs the CSRF token, and with it the deployment succeeds in the admin's name", async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const { user, agent } = await signInAs(t, 'admin');
    const body = { model_id: model.id, environment: 'development' };
    await agent.post(`${API}/features/${feature.id}/models`).send(body).expect(403);
    await nothingWritten(feature.id);
    const res = await agent
      .post(`${API}/features/${feature.id}/models`)
      .set('x-csrf-token', await csrfFor(agent))
      .send(body)
      .expect(201);
    expect(res.body.data.deployment).toMatchObject({ status: 'success', requested_by: user.email });
    expect(await d.auditOf(feature.id)).toMatchObject([{ action: 'deployment.succeeded', actor_type: 'user', actor_id: user.id }]);
  });
});
