import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/jobs/rollouts.ts';
import { armOf } from '../../../src/services/rollout-plan.ts';
import { text } from '../../setup/html.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { signInAs } from '../../setup/session.ts';
import { type Deployments, openDeployments } from '../deployments/setup.ts';
import { API, featureWithStable, minutesAfter, rolloutAction, started, startRollout, trafficMinute } from './setup.ts';

// A rollout of a prompt version (issue 18): with the stable model or with a new one; validated against
// the feature's versions; candidate users get the candidate prompt from the runtime config; the guard
// tells the arms apart by prompt version; Complete activates the version through the pipeline.

// A database of this file's own: the guard job takes every running rollout under one lock, so a
// guard run of another file at the same time (with its own clock) would take this file's rollouts.
let d: Deployments;
let drop: () => Promise<void>;
beforeAll(async () => {
  const own = await ownSeededDatabase('rollout_prompts');
  drop = own.drop;
  d = await openDeployments(own.db);
});
afterAll(async () => {
  await d?.close();
  await drop?.();
});

const api = (method: 'post' | 'get', path: string, body: object = {}) =>
  request(d.t.app)[method](`${API}${path}`).set('Authorization', `Bearer ${d.admin.token}`).send(body);

/** A feature served in staging by a model, with prompt v1 active there and v2 saved. */
async function withPrompts() {
  const f = await featureWithStable(d);
  for (const template of ['Hello {{name}}', 'Hi there {{name}}'])
    await api('post', `/features/${f.feature.id}/prompts`, { template, sample_values: { name: 'Ada' } }).expect(201);
  await api('post', `/features/${f.feature.id}/prompts/1/activate`, { environment: 'staging' }).expect(201);
  return f;
}

const activeVersion = async (featureId: string) =>
  (
    await d.t
      .db('prompt_activations as a')
      .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
      .where({ 'a.feature_id': featureId, 'a.environment': 'staging', 'a.is_active': true })
      .first('v.version')
  )?.version ?? null;

describe('POST /features/:id/rollouts with a candidate prompt', () => {
  it('when neither a model nor a prompt is given, or the version is unknown or already active, then 422 on the field and nothing starts', async () => {
    const { feature } = await withPrompts();
    const neither = await startRollout(d, feature.id, { environment: 'staging' }).expect(422);
    expect(neither.body.details).toMatchObject({ model_id: expect.stringMatching(/candidate model, a prompt version, or both/) });
    const unknown = await startRollout(d, feature.id, { environment: 'staging', prompt_version: 9 }).expect(422);
    expect(unknown.body.details).toMatchObject({ prompt_version: "is not a version of this feature's prompt" });
    const active = await startRollout(d, feature.id, { environment: 'staging', prompt_version: 1 }).expect(422);
    expect(active.body.details).toMatchObject({ prompt_version: 'is already active in staging' });
    const bad = await startRollout(d, feature.id, { environment: 'staging', prompt_version: 'two' }).expect(422);
    expect(bad.body.details).toMatchObject({ prompt_version: 'must be a version number' });
    expect(await d.t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when a prompt version rolls out, then the runtime config gives each candidate user that version with the stable model, and the others v1', async () => {
    const { feature, stable } = await withPrompts();
    const rollout = await started(d, feature.id, {
      environment: 'staging',
      prompt_version: 2,
      stages: [{ percent_bp: 5000, min_minutes: 1, min_requests_per_arm: 1 }],
    });
    expect(rollout).toMatchObject({ candidate_model: null, candidate_prompt_version: 2, stable_prompt_version: 1 });
    const config = (uid?: string) =>
      request(d.t.app)
        .get(`/api/v1/features/${feature.name}/config?environment=staging${uid ? `&end_user_id=${uid}` : ''}`)
        .set('Authorization', `Bearer ${d.readToken}`)
        .expect(200);
    expect((await config()).body.rollout).toMatchObject({
      candidate: { model: null, prompt: { version: 2, template: 'Hi there {{name}}' } },
    });
    const row = (await d.t.db('rollouts').where({ id: rollout.id }).first())!;
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const uid = `u-${i}`;
      const variant = armOf(row.salt, row.percent_bp, uid);
      seen.add(variant);
      const res = await config(uid);
      expect(res.body, uid).toMatchObject({ variant, model: { id: stable.id }, prompt: { version: variant === 'candidate' ? 2 : 1 } });
    }
    expect(seen).toEqual(new Set(['stable', 'candidate']));
  });

  it('when the candidate prompt errs at 10% against 1% with the same model, then the guard (arms by prompt version) rolls it back', async () => {
    const { feature, stable } = await withPrompts();
    const rollout = await started(d, feature.id, {
      environment: 'staging',
      prompt_version: 2,
      guard: { for_minutes: 2 },
      stages: [
        { percent_bp: 2500, min_minutes: 3, min_requests_per_arm: 100 },
        { percent_bp: 10000, min_minutes: 3, min_requests_per_arm: 100 },
      ],
    });
    const row = (await d.t.db('rollouts').where({ id: rollout.id }).first())!;
    const t0 = new Date(Math.ceil(row.stage_started_at.getTime() / 60_000) * 60_000);
    const prompts = { stable: { version: 1, errorRate: 0.01 }, candidate: { version: 2, errorRate: 0.1 } };
    for (let m = 0; m < 3; m++) {
      await trafficMinute(d, {
        featureId: feature.id,
        environment: 'staging',
        rolloutId: rollout.id,
        stable,
        candidate: stable,
        users: 2000,
        at: minutesAfter(t0, m),
        prompts,
      });
      await run({ db: d.t.db, now: minutesAfter(t0, m + 1) });
    }
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!).toMatchObject({ status: 'rolled_back', percent_bp: 0 });
    const [decision] = await d.t.db('rollout_decisions').where({ rollout_id: rollout.id, action: 'rollback' });
    expect(decision.explanation).toMatch(
      /^candidate (9\.[5-9]|10\.0)% errors \(n=[\d,]+\) vs stable (0\.9|1\.0)% \(n=[\d,]+\), z = [\d.]+, for 2 min → rolled back to 0%$/,
    );
    expect(await activeVersion(feature.id)).toBe(1);
  });

  it('when a prompt rollout completes, then the version is activated through the pipeline (a promote prompt deployment) and the model stays', async () => {
    const { feature, stable } = await withPrompts();
    const rollout = await started(d, feature.id, { environment: 'staging', prompt_version: 2 });
    const done = await rolloutAction(d, rollout.id, 'complete').expect(200);
    expect(done.body.data).toMatchObject({ status: 'completed', percent_bp: 10000 });
    expect(await activeVersion(feature.id)).toBe(2);
    const promote = await d.t.db('deployments').where({ feature_id: feature.id, subject: 'prompt', kind: 'promote' });
    expect(promote).toHaveLength(1);
    expect(promote[0]).toMatchObject({ status: 'success', environment: 'staging' });
    expect((await d.activeRows(feature.id, 'staging')).map((a) => a.model_id)).toEqual([stable.id]);
  });

  it('when a new model with a new prompt rolls out and completes, then candidate users get both, and Complete assigns the model and activates the version', async () => {
    const { feature, candidate } = await withPrompts();
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id, prompt_version: 2 });
    expect(rollout).toMatchObject({ candidate_label: `${candidate.display_name} with prompt v2` });
    const cfg = await request(d.t.app)
      .get(`/api/v1/features/${feature.name}/config?environment=staging`)
      .set('Authorization', `Bearer ${d.readToken}`)
      .expect(200);
    expect(cfg.body.rollout.candidate).toMatchObject({ model: { id: candidate.id }, prompt: { version: 2 } });
    await rolloutAction(d, rollout.id, 'complete').expect(200);
    expect((await d.activeRows(feature.id, 'staging')).map((a) => a.model_id)).toEqual([candidate.id]);
    expect(await activeVersion(feature.id)).toBe(2);
  });

  it('when the candidate prompt cannot render, then the start is refused with the render check and nothing starts', async () => {
    const { feature } = await withPrompts();
    await api('post', `/features/${feature.id}/prompts`, { template: 'Hi {{name}} in {{city}}', sample_values: { name: 'Ada' } }).expect(
      201,
    );
    const res = await startRollout(d, feature.id, { environment: 'staging', prompt_version: 3 }).expect(422);
    expect(res.body).toMatchObject({
      error: expect.stringMatching(/^no sample value for \{\{city\}\}/),
      details: { checks: [{ name: 'render', ok: false }] },
    });
    expect(await d.t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when an admin starts a prompt rollout by the form (no JavaScript), then the form offers the versions not active there, and the page names both arms', async () => {
    const { feature, stable } = await withPrompts();
    const admin = await signInAs(d.t, 'admin');
    const start = `/platform/ai-management/rollouts/new?feature=${feature.name}&environment=staging`;
    const form = cheerio.load((await admin.agent.get(start).expect(200)).text);
    expect(
      form('#rollout-prompt_version option')
        .map((_i, el) => cheerio.load(el)('option').attr('value'))
        .get(),
    ).toEqual(['', '2']);
    const res = await admin.agent
      .post('/platform/ai-management/rollouts')
      .type('form')
      .send({ _csrf: admin.csrf, feature: feature.name, environment: 'staging', model_id: '', prompt_version: '2' })
      .expect(303);
    const page = cheerio.load((await admin.agent.get(res.headers.location).expect(200)).text);
    expect(text(page('h1'))).toBe(`Rollout of ${stable.display_name} with prompt v2 in staging`);
    expect(text(page('#rollout-arms tr[data-arm="stable"] th'))).toBe(`Stable · ${stable.display_name} with prompt v1`);
  });
});
