import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { type Agent, signInAs } from '../../setup/session.ts';

// A protected environment (its changes need another admin's approval): starting a rollout there files
// a change request ("Start rollout of … at 1%") instead; another admin's approval starts it, the
// deployment checks run again then; a rejection starts nothing. The policy is global, so this file
// has a database of its own.

const API = '/api/platform/ai-management';
const APPROVALS = '/platform/ai-management/approvals';
let t: TestContext;
let drop: () => Promise<void>;
let token: { token: string; label: string };
let alice: { agent: Agent; csrf: string };
let bob: { agent: Agent; csrf: string };
beforeAll(async () => {
  const own = await ownSeededDatabase('rollouts_protected');
  drop = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  await t.db('environment_policies').insert({ environment: 'production', requires_approval: true, updated_by: 'test' });
  const key = await makeToken(t.db, 'admin');
  token = { token: key.token, label: `token:${key.key.name}` };
  alice = await signInAs(t, 'admin');
  bob = await signInAs(t, 'admin');
});
afterAll(async () => {
  await t?.close();
  await drop?.();
});

async function served() {
  const feature = await makeFeature(t.db);
  const [stable, candidate] = [await makeModel(t.db), await makeModel(t.db)];
  await makeAssignment(t.db, { feature_id: feature.id, model_id: stable.id });
  return { feature, stable, candidate };
}

/** A token asks for a rollout in production: 409 with the change request filed. */
async function asked(featureId: string, candidateId: string) {
  const res = await request(t.app)
    .post(`${API}/features/${featureId}/rollouts`)
    .set('Authorization', `Bearer ${token.token}`)
    .send({ environment: 'production', model_id: candidateId, stages: [{ percent_bp: 500, min_minutes: 5, min_requests_per_arm: 50 }] });
  expect(res.status, JSON.stringify(res.body)).toBe(409);
  return res.body.details.change_request as { id: string; kind: string; reason: string; status: string };
}

const approve = (agent: { agent: Agent; csrf: string }, id: string) =>
  agent.agent.post(`${APPROVALS}/${id}/approve`).type('form').send({ _csrf: agent.csrf });

describe('POST /features/:id/rollouts in a protected environment', () => {
  it('when production needs approval, then a change request is filed and nothing starts; another admin’s approval starts it with the checks run again', async () => {
    const { feature, stable, candidate } = await served();
    const filed = await asked(feature.id, candidate.id);
    expect(filed).toMatchObject({ kind: 'rollout', status: 'pending', reason: `Start rollout of ${candidate.display_name} at 5%` });
    expect(await t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
    const listed = await request(t.app).get(`${API}/change-requests/${filed.id}`).set('Authorization', `Bearer ${token.token}`).expect(200);
    expect(listed.body.data).toMatchObject({ kind: 'rollout', model_id: candidate.id, reason: filed.reason, rollout_id: null });
    const page = cheerio.load((await bob.agent.get(APPROVALS).expect(200)).text);
    expect(text(page(`#pending-requests tr[data-request="${filed.id}"] th`))).toContain(`Start rollout of ${candidate.display_name} at 5%`);

    const res = await approve(bob, filed.id).expect(303);
    expect(res.headers.location).toBe(APPROVALS);
    const [rollout] = await t.db('rollouts').where({ feature_id: feature.id });
    expect(rollout).toMatchObject({
      status: 'running',
      percent_bp: 500,
      candidate_model_id: candidate.id,
      stable_model_id: stable.id,
      environment: 'production',
    });
    expect(rollout.started_by).toMatch(/\(approving token:/);
    const [start] = await t.db('rollout_decisions').where({ rollout_id: rollout.id });
    expect(start.evidence).toMatchObject({ checks: expect.arrayContaining([expect.objectContaining({ name: 'smoke', ok: true })]) });
    expect(await t.db('change_requests').where({ id: filed.id }).first()).toMatchObject({
      status: 'applied',
      rollout_id: rollout.id,
      deployment_id: null,
    });
    const audit = await t.db('audit_log').where({ entity_id: feature.id, action: 'change_request.approved' });
    expect(audit[0].after).toMatchObject({ change_request_id: filed.id, rollout_id: rollout.id, applied: true });
  });

  it('when the candidate no longer passes the checks at approval, then the request is refused with why, and nothing starts', async () => {
    const { feature, candidate } = await served();
    const filed = await asked(feature.id, candidate.id);
    await t.db('ai_models').where({ id: candidate.id }).update({ model_type: 'embedding' });
    await approve(bob, filed.id).expect(303);
    expect(await t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
    const row = (await t.db('change_requests').where({ id: filed.id }).first())!;
    expect(row).toMatchObject({ status: 'refused', rollout_id: null });
    expect(row.decision_note).toBeTruthy();
  });

  it('when another admin rejects it, then nothing starts', async () => {
    const { feature, candidate } = await served();
    const filed = await asked(feature.id, candidate.id);
    await bob.agent.post(`${APPROVALS}/${filed.id}/reject`).type('form').send({ _csrf: bob.csrf, note: 'not this week' }).expect(303);
    expect(await t.db('change_requests').where({ id: filed.id }).first()).toMatchObject({ status: 'rejected' });
    expect(await t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when an admin starts it by the form (no JavaScript), then 303 back to the start page saying it waits, and the requester cannot approve it', async () => {
    const { feature, candidate } = await served();
    const res = await alice.agent
      .post('/platform/ai-management/rollouts')
      .type('form')
      .send({ _csrf: alice.csrf, feature: feature.name, environment: 'production', model_id: candidate.id })
      .expect(303);
    const page = cheerio.load((await alice.agent.get(res.headers.location).expect(200)).text);
    expect(text(page('.flash, [role="status"]').first())).toMatch(/production is protected/);
    expect(text(page('p[data-request]'))).toMatch(
      new RegExp(`Waiting for another admin’s approval: Start rollout of ${candidate.display_name} at 1%`),
    );
    const [filed] = await t.db('change_requests').where({ feature_id: feature.id, kind: 'rollout' });
    await approve(alice, filed.id).expect(409);
    expect(await t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });
});
