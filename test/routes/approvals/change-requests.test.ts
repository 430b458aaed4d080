import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderAdapter } from '../../../src/providers/adapter.ts';
import type { Providers } from '../../../src/providers/index.ts';
import { approveChangeRequest, expireChangeRequests, REQUEST_LIFETIME_MS } from '../../../src/services/change-requests.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import { getPage, text } from '../../setup/html.ts';
import type { FeatureRecord, ModelRecord } from '../../setup/rows.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { type Agent, signInAs } from '../../setup/session.ts';

// Protected environments (issue 14): with production's policy on, a model change from the console or
// a token becomes a change request; the requester cannot approve it; another admin's approval runs the
// pipeline; rejection and expiry change nothing. The policy is global, so this file has a database of
// its own (other files deploy to production while it runs).

const API = '/api/platform/ai-management';
const APPROVALS = '/platform/ai-management/approvals';
const FEATURES = '/platform/ai-management/features';

let t: TestContext;
let drop: () => Promise<void>;
let alice: { agent: Agent; csrf: string; user: { id: string } };
let bob: { agent: Agent; csrf: string; user: { id: string } };
let viewer: { agent: Agent; csrf: string };
let writeToken: string;

beforeAll(async () => {
  const own = await ownSeededDatabase('approvals');
  drop = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  alice = await signInAs(t, 'admin');
  bob = await signInAs(t, 'admin');
  viewer = await signInAs(t, 'viewer');
  writeToken = (await makeToken(t.db, 'admin')).token;
  // Production protected through the page, as an admin would.
  await alice.agent.post(`${APPROVALS}/policies/production`).type('form').send({ _csrf: alice.csrf, requires_approval: 'yes' }).expect(303);
});
afterAll(async () => {
  await t?.close();
  await drop?.();
});

/** A feature served in production by `from`, and a model it could change to. */
async function served(): Promise<{ feature: FeatureRecord; from: ModelRecord; to: ModelRecord }> {
  const feature = await makeFeature(t.db);
  const from = await makeModel(t.db, { display_name: 'Serving model' });
  const to = await makeModel(t.db, { display_name: 'Candidate model' });
  await makeAssignment(t.db, { feature_id: feature.id, model_id: from.id });
  return { feature, from, to };
}

const servingModel = async (featureId: string) =>
  (await t.db('feature_model_assignments').where({ feature_id: featureId, environment: 'production', is_active: true }).first())?.model_id;

/** Alice asks for the change on the Models tab's form; the request it filed. */
async function askedByAlice(feature: FeatureRecord, to: ModelRecord) {
  const res = await alice.agent
    .post(`${FEATURES}/${feature.name}/models`)
    .type('form')
    .send({ _csrf: alice.csrf, model_id: to.id, environment: 'production', confirm: 'yes' })
    .expect(303);
  const request = await t.db('change_requests').where({ feature_id: feature.id }).orderBy('requested_at', 'desc').first();
  expect(request, 'a change request was filed').toBeDefined();
  return { res, request: request! };
}

describe('a protected environment', () => {
  it('when the policy is set, then the approvals page and the API say production is protected, the change is audited, and setting it again writes nothing', async () => {
    const $ = await getPage(alice.agent, APPROVALS);
    expect(text($('#policies li[data-environment="production"]'))).toMatch(/protected changes need a second admin’s approval/);
    expect(text($('#policies li[data-environment="staging"]'))).toMatch(/changes apply at once/);
    const api = await request(t.app).get(`${API}/environment-policies`).set('Authorization', `Bearer ${writeToken}`).expect(200);
    expect(api.body.data).toEqual([
      { environment: 'development', requires_approval: false },
      { environment: 'staging', requires_approval: false },
      { environment: 'production', requires_approval: true },
    ]);
    const audits = () => t.db('audit_log').where({ action: 'environment.policy_changed' });
    expect(await audits()).toHaveLength(1);
    await alice.agent
      .post(`${APPROVALS}/policies/production`)
      .type('form')
      .send({ _csrf: alice.csrf, requires_approval: 'yes' })
      .expect(303);
    expect(await audits()).toHaveLength(1);
    await viewer.agent
      .post(`${APPROVALS}/policies/production`)
      .type('form')
      .send({ _csrf: viewer.csrf, requires_approval: 'no' })
      .expect(403);
  });

  it("when an admin changes production's model, then a change request is filed and nothing is deployed; the same admin cannot approve it", async () => {
    const { feature, from, to } = await served();
    const { res, request: cr } = await askedByAlice(feature, to);
    expect(res.headers.location).toContain(`feature=${feature.name}`);
    expect(cr).toMatchObject({
      status: 'pending',
      environment: 'production',
      model_id: to.id,
      previous_model_id: from.id,
      requested_by_id: alice.user.id,
    });
    expect(cr.expires_at.getTime() - cr.requested_at.getTime()).toBe(REQUEST_LIFETIME_MS);
    expect(await servingModel(feature.id)).toBe(from.id);
    expect(await t.db('deployments').where({ feature_id: feature.id })).toEqual([]);

    // The Models tab says production is protected and lists the request waiting.
    const $tab = await getPage(alice.agent, `${FEATURES}?feature=${feature.name}&tab=models&environment=production`);
    expect(text($tab('#protected-notice'))).toContain('production is protected: a change waits for another admin’s approval');
    expect(text($tab(`#pending-requests li[data-request="${cr.id}"]`))).toContain('production: assign Serving model → Candidate model');
    const $staging = await getPage(alice.agent, `${FEATURES}?feature=${feature.name}&tab=models&environment=staging`);
    expect(text($staging('#protected-notice'))).toContain('production is protected: a change promoted there waits');

    const $ = await getPage(alice.agent, APPROVALS);
    const row = $(`#pending-requests tr[data-request="${cr.id}"]`);
    expect(text(row.find('th'))).toContain('Serving model → Candidate model');
    expect(row.find('button:contains("Approve")')).toHaveLength(0);
    expect(text(row)).toContain('Cannot decide: you asked for this');

    const own = await alice.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: alice.csrf }).expect(409);
    expect(text((await import('cheerio')).load(own.text)('#approval-error'))).toContain('another admin must approve it');
    expect((await t.db('change_requests').where({ id: cr.id }).first())?.status).toBe('pending');
    expect(await servingModel(feature.id)).toBe(from.id);
  });

  it('when another admin approves, then the pipeline runs with its checks and the model serves production; the request says applied and links its deployment', async () => {
    const { feature, to } = await served();
    const { request: cr } = await askedByAlice(feature, to);
    await viewer.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: viewer.csrf }).expect(403);
    await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(303);
    expect(await servingModel(feature.id)).toBe(to.id);
    const done = await t.db('change_requests').where({ id: cr.id }).first();
    expect(done).toMatchObject({ status: 'applied', decided_by_id: bob.user.id });
    const deployment = await t.db('deployments').where({ id: done!.deployment_id! }).first();
    expect(deployment).toMatchObject({ status: 'success', environment: 'production', model_id: to.id });
    expect(deployment!.checks.map((c) => [c.name, c.ok])).toEqual([
      ['model', true],
      ['provider', true],
      ['smoke', true],
    ]);
    const actions = (await t.db('audit_log').where({ entity_id: feature.id }).orderBy('id')).map((a) => a.action);
    expect(actions).toEqual(['change_request.created', 'deployment.succeeded', 'change_request.approved']);
    // A second approval finds it decided.
    await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(409);
    const $ = await getPage(bob.agent, APPROVALS);
    const row = $(`#decided-requests tr[data-request="${cr.id}"]`);
    expect(text(row.find('.badge'))).toBe('applied');
    expect(row.find(`a[href="/platform/ai-management/deployments/${deployment!.id}"]`)).toHaveLength(1);
  });

  it('when another admin rejects, then nothing changes but the request, which keeps the note', async () => {
    const { feature, from, to } = await served();
    const { request: cr } = await askedByAlice(feature, to);
    await bob.agent.post(`${APPROVALS}/${cr.id}/reject`).type('form').send({ _csrf: bob.csrf, note: 'not before the launch' }).expect(303);
    expect(await t.db('change_requests').where({ id: cr.id }).first()).toMatchObject({
      status: 'rejected',
      decision_note: 'not before the launch',
    });
    expect(await servingModel(feature.id)).toBe(from.id);
    expect(await t.db('deployments').where({ feature_id: feature.id })).toEqual([]);
    await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(409);
    expect(await servingModel(feature.id)).toBe(from.id);
  });

  it('when a request is not decided in time, then the job expires it (audited) and it can no longer be approved', async () => {
    const { feature, from, to } = await served();
    const { request: cr } = await askedByAlice(feature, to);
    const statusOf = async () => (await t.db('change_requests').where({ id: cr.id }).first())?.status;
    await expireChangeRequests(t.db, new Date(cr.requested_at.getTime() + REQUEST_LIFETIME_MS - 1000));
    expect(await statusOf()).toBe('pending');
    expect(await expireChangeRequests(t.db, new Date(cr.requested_at.getTime() + REQUEST_LIFETIME_MS + 1000))).toBeGreaterThanOrEqual(1);
    expect((await t.db('change_requests').where({ id: cr.id }).first())?.status).toBe('expired');
    expect(await t.db('audit_log').where({ action: 'change_request.expired', entity_id: feature.id })).toHaveLength(1);
    await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(409);
    expect(await servingModel(feature.id)).toBe(from.id);
  });

  it('when what serves production changed since the request, then approving it is refused and nothing is deployed', async () => {
    const { feature, to } = await served();
    const { request: cr } = await askedByAlice(feature, to);
    const other = await makeModel(t.db);
    await t
      .db('feature_model_assignments')
      .where({ feature_id: feature.id, is_active: true })
      .update({ is_active: false, deactivated_at: new Date() });
    await makeAssignment(t.db, { feature_id: feature.id, model_id: other.id });
    const res = await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(409);
    expect(res.text).toContain('has changed since this was asked for');
    expect(await servingModel(feature.id)).toBe(other.id);
    expect((await t.db('change_requests').where({ id: cr.id }).first())?.status).toBe('pending');
  });

  it('when the approved change cannot run (the pipeline stops on an unexpected error), then the request waits again, undecided, and nothing changed', async () => {
    const { feature, from, to } = await served();
    const { request: cr } = await askedByAlice(feature, to);
    // A provider whose smoke request throws: the pipeline marks its deployment failed and rethrows.
    const broken: Providers = {
      ...t.app.providers,
      adapterFor: async () => ({ smoke: () => Promise.reject(new Error('adapter crashed')) }) as unknown as ProviderAdapter,
    };
    const bob_ = { kind: 'user' as const, id: bob.user.id, label: 'bob', role: 'admin' as const };
    await expect(approveChangeRequest(t.db, broken, bob_, cr.id, new Date())).rejects.toThrow('adapter crashed');
    expect(await t.db('change_requests').where({ id: cr.id }).first()).toMatchObject({
      status: 'pending',
      decided_by: null,
      decided_at: null,
    });
    expect(await servingModel(feature.id)).toBe(from.id);
    // It can be approved again once the provider answers.
    await bob.agent.post(`${APPROVALS}/${cr.id}/approve`).type('form').send({ _csrf: bob.csrf }).expect(303);
    expect(await servingModel(feature.id)).toBe(to.id);
  });

  it('when the change breaks a rule known in advance (the model already serves), then nothing is requested', async () => {
    const { feature, from } = await served();
    await alice.agent
      .post(`${FEATURES}/${feature.name}/models`)
      .type('form')
      .send({ _csrf: alice.csrf, model_id: from.id, environment: 'production', confirm: 'yes' })
      .expect(422);
    expect(await t.db('change_requests').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when an API token changes production, then it gets 409 with the change request and its links; a token cannot approve; an unprotected environment deploys at once', async () => {
    const { feature, from, to } = await served();
    const res = await request(t.app)
      .post(`${API}/features/${feature.id}/models`)
      .set('Authorization', `Bearer ${writeToken}`)
      .send({ model_id: to.id, environment: 'production' })
      .expect(409);
    expect(res.body).toMatchObject({
      success: false,
      error: expect.stringContaining('production is protected'),
      details: { change_request: { status: 'pending', model_id: to.id }, links: { page: APPROVALS } },
    });
    const id = res.body.details.change_request.id;
    expect(res.body.details.links.api).toBe(`${API}/change-requests/${id}`);
    expect(await servingModel(feature.id)).toBe(from.id);
    const got = await request(t.app).get(`${API}/change-requests/${id}`).set('Authorization', `Bearer ${writeToken}`).expect(200);
    expect(got.body.data).toMatchObject({ id, status: 'pending', feature_name: feature.name, requested_by_kind: 'token' });
    const byToken = await request(t.app)
      .post(`${API}/change-requests/${id}/approve`)
      .set('Authorization', `Bearer ${writeToken}`)
      .expect(403);
    expect(byToken.body.error).toMatch(/signed-in admin/);
    expect(await servingModel(feature.id)).toBe(from.id);
    const pending = await request(t.app)
      .get(`${API}/change-requests?state=pending`)
      .set('Authorization', `Bearer ${writeToken}`)
      .expect(200);
    expect(pending.body.data.map((r: { id: string }) => r.id)).toContain(id);

    await request(t.app)
      .post(`${API}/features/${feature.id}/models`)
      .set('Authorization', `Bearer ${writeToken}`)
      .send({ model_id: to.id, environment: 'staging' })
      .expect(201);
  });

  it('when the policy is set through the API, then unknown fields are refused by name and read tokens get 403', async () => {
    const read = (await makeToken(t.db, 'read')).token;
    await request(t.app)
      .put(`${API}/environment-policies/staging`)
      .set('Authorization', `Bearer ${read}`)
      .send({ requires_approval: true })
      .expect(403);
    const bad = await request(t.app)
      .put(`${API}/environment-policies/staging`)
      .set('Authorization', `Bearer ${writeToken}`)
      .send({ requires_approval: true, approvers: 2 })
      .expect(422);
    expect(bad.body.details).toEqual({ approvers: 'is not a field that can be set' });
    expect(await t.db('environment_policies').where({ environment: 'staging' })).toEqual([]);
  });
});
