import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armOf } from '../../../src/services/rollout-plan.ts';
import { makeToken } from '../../setup/factories.ts';
import { type Deployments, openDeployments } from '../deployments/setup.ts';
import { API, featureWithStable, rolloutAction, started, startRollout } from './setup.ts';

// POST /features/:id/rollouts and the rollout's actions (SPEC §10.5, issue 18): started after the
// pipeline's checks, one per feature and environment, ramps that only rise, other changes there
// refused with a link, and the runtime config that carries it.

let d: Deployments;
beforeAll(async () => {
  d = await openDeployments();
});
afterAll(() => d?.close());

const config = (name: string, token: string, query = '') =>
  request(d.t.app).get(`/api/v1/features/${name}/config?environment=staging${query}`).set('Authorization', `Bearer ${token}`);

describe('POST /features/:id/rollouts', () => {
  it('when started, then 201 at the first stage with a new salt, the runtime config carries it, each end user gets its documented arm, and the ETag changes', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    const before = await config(feature.name, d.readToken).expect(200);
    expect(before.body.rollout).toBeNull();
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    expect(rollout).toMatchObject({ percent_bp: 100, status: 'running', stage_idx: 0, candidate_model: candidate.display_name });
    expect(rollout.salt).toBeUndefined();

    const after = await config(feature.name, d.readToken).expect(200);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.body.rollout).toMatchObject({
      id: rollout.id,
      percent_bp: 100,
      salt: expect.stringMatching(/^[0-9a-f]{32}$/),
      algorithm: 'sha256-8hex-mod10000',
      candidate: { model: { id: candidate.id } },
    });
    expect(after.body.model.id).toBe(stable.id);
    const other = await started(d, (await featureWithStable(d)).feature.id, { environment: 'staging', model_id: candidate.id });
    expect((await d.t.db('rollouts').where({ id: other.id }).first())!.salt).not.toBe(after.body.rollout.salt);

    await rolloutAction(d, rollout.id, 'percent', { percent: 50 }).expect(200);
    const salt = after.body.rollout.salt;
    for (const uid of ['user-1', 'user-2', 'user-3', 'user-4', 'user-5', 'user-6']) {
      const res = await config(feature.name, d.readToken, `&end_user_id=${uid}`).expect(200);
      const variant = armOf(salt, 5000, uid);
      expect(res.body).toMatchObject({ end_user_id: uid, variant, model: { id: variant === 'candidate' ? candidate.id : stable.id } });
    }
    const audit = await d.t.db('audit_log').where({ entity_id: feature.id }).whereLike('action', 'rollout.%').orderBy('id').pluck('action');
    expect(audit).toEqual(['rollout.start', 'rollout.percent']);
  });

  it('when a rollout runs, then another start, an assignment or a prompt activation there answers 409 with a link, and the ramp only rises', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    const again = await startRollout(d, feature.id, { environment: 'staging', model_id: candidate.id }).expect(409);
    expect(again.body.error).toContain(`/platform/ai-management/rollouts/${rollout.id}`);
    const assign = await d.deployTo(feature.id, { model_id: candidate.id, environment: 'staging' }).expect(409);
    expect(assign.body.error).toMatch(/A rollout is running in staging/);
    expect((await d.activeRows(feature.id, 'staging')).map((a) => a.model_id)).toEqual([stable.id]);
    const api = (path: string) =>
      request(d.t.app).post(`${API}/features/${feature.id}${path}`).set('Authorization', `Bearer ${d.admin.token}`);
    await api('/prompts').send({ template: 'Answer briefly.' }).expect(201);
    const prompt = await api('/prompts/1/activate').send({ environment: 'staging' }).expect(409);
    expect(prompt.body.error).toMatch(/A rollout is running in staging/);
    expect(await d.t.db('prompt_activations').where({ feature_id: feature.id })).toEqual([]);

    // The database holds the rule too: a second running or paused rollout there cannot be written.
    const row = (await d.t.db('rollouts').where({ id: rollout.id }).first())!;
    const { id: _id, ...copy } = row;
    await expect(
      d.t.db('rollouts').insert({ ...copy, status: 'paused', stages: JSON.stringify(row.stages), guard: JSON.stringify(row.guard) }),
    ).rejects.toThrow(/rollouts_one_active/);
    const lower = await rolloutAction(d, rollout.id, 'percent', { percent: 0.5 }).expect(422);
    expect(lower.body.details).toEqual({ percent: expect.stringMatching(/a ramp only rises/) });
    await rolloutAction(d, rollout.id, 'percent', { percent: 25 }).expect(200);
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!).toMatchObject({ percent_bp: 2500, stage_idx: 2 });

    await rolloutAction(d, rollout.id, 'abort').expect(200);
    await d.deployTo(feature.id, { model_id: candidate.id, environment: 'staging' }).expect(201);
  });

  it('when a check refuses the candidate, then 422 and nothing starts', async () => {
    const { feature, candidate } = await featureWithStable(d);
    await d.t.db('ai_models').where({ id: candidate.id }).update({ model_type: 'embedding' });
    const res = await startRollout(d, feature.id, { environment: 'staging', model_id: candidate.id }).expect(422);
    expect(res.body.error).toBeTruthy();
    expect(await d.t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when a read-only token starts or changes a rollout, then 403 and nothing changes', async () => {
    const { feature, candidate } = await featureWithStable(d);
    await startRollout(d, feature.id, { environment: 'staging', model_id: candidate.id }, d.readToken).expect(403);
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    await rolloutAction(d, rollout.id, 'rollback', {}, d.readToken).expect(403);
    await request(d.t.app).get(`${API}/rollouts/${rollout.id}`).set('Authorization', `Bearer ${d.readToken}`).expect(200);
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!.status).toBe('running');
  });

  it('when the kill switch is off or the rollout is rolled back, then the runtime config serves no candidate, under a new ETag', async () => {
    const ingest = (await makeToken(d.t.db, 'ingest')).token;
    const { feature, stable, candidate } = await featureWithStable(d);
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    await rolloutAction(d, rollout.id, 'percent', { percent: 100 }).expect(200);
    expect((await config(feature.name, ingest, '&end_user_id=u1').expect(200)).body.variant).toBe('candidate');
    await d.t.db('ai_features').where({ id: feature.id }).update({ status: 'inactive' });
    const killed = await config(feature.name, ingest, '&end_user_id=u1').expect(200);
    expect(killed.body).toMatchObject({ status: 'inactive', variant: 'stable', model: { id: stable.id } });
    await d.t.db('ai_features').where({ id: feature.id }).update({ status: 'active' });
    const live = await config(feature.name, ingest).expect(200);
    await rolloutAction(d, rollout.id, 'rollback').expect(200);
    const back = await config(feature.name, ingest).expect(200);
    expect(back.headers.etag).not.toBe(live.headers.etag);
    expect(back.body.rollout).toBeNull();
    await rolloutAction(d, rollout.id, 'complete').expect(409);
  });
});
