import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from '../../setup/html.ts';
import type { Agent } from '../../setup/session.ts';
import { signInAs } from '../../setup/session.ts';
import { type Deployments, openDeployments } from '../deployments/setup.ts';
import { featureWithStable, started } from './setup.ts';

// The rollout pages without JavaScript: the start form (a refusal re-rendered with 422), the live
// page (stable vs candidate, guard, stages, decisions; a meta refresh while running), its actions as
// plain forms, and the Models tab's rollout line. Viewers see it and change nothing.

const BASE = '/platform/ai-management';
let d: Deployments;
let admin: { agent: Agent; csrf: string };
let viewer: { agent: Agent; csrf: string };
beforeAll(async () => {
  d = await openDeployments();
  admin = await signInAs(d.t, 'admin');
  viewer = await signInAs(d.t, 'viewer');
});
afterAll(() => d?.close());

describe('rollout pages', () => {
  it('when an admin starts a rollout by the form, then 303 to its live page, which the Models tab links, and Roll back puts everyone on stable', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    const tab = cheerio.load(
      (await admin.agent.get(`${BASE}/features?feature=${feature.name}&tab=models&environment=staging`).expect(200)).text,
    );
    const startHref = tab('#models-tab-rollout a').attr('href')!;
    const form = cheerio.load((await admin.agent.get(startHref).expect(200)).text);
    expect(form(`#rollout-model_id option[value="${candidate.id}"]`)).toHaveLength(1);
    expect(form(`#rollout-model_id option[value="${stable.id}"]`)).toHaveLength(0);
    expect(form('#rollout-for_minutes').is('input[type="number"]')).toBe(true);
    expect(form('#rollout-for_minutes').val()).toBe('5');

    const empty = await admin.agent
      .post(`${BASE}/rollouts`)
      .type('form')
      .send({ _csrf: admin.csrf, feature: feature.name, environment: 'staging', model_id: '' })
      .expect(422);
    expect(text(cheerio.load(empty.text)('#rollout-model_id-error'))).toMatch(/Candidate/);

    const res = await admin.agent
      .post(`${BASE}/rollouts`)
      .type('form')
      .send({ _csrf: admin.csrf, feature: feature.name, environment: 'staging', model_id: candidate.id, for_minutes: '4' })
      .expect(303);
    const page = cheerio.load((await admin.agent.get(res.headers.location).expect(200)).text);
    expect(text(page('#rollout-state'))).toMatch(/running 1\.00% of users on the candidate/);
    expect(page('#rollout-body').attr('hx-trigger')).toBe('every 5s');
    expect(page('#rollout-body noscript').html()).toContain('http-equiv="refresh"');
    expect(
      page('#rollout-arms tbody tr')
        .map((_i, el) => cheerio.load(el)('tr').attr('data-arm'))
        .get(),
    ).toEqual(['stable', 'candidate']);
    expect(page('#rollout-guard li')).toHaveLength(3);
    expect(page('#rollout-stages li')).toHaveLength(5);
    expect(text(page('#rollout-decisions tbody tr').first())).toMatch(/started/);
    const row = (await d.t.db('rollouts').where({ feature_id: feature.id }).first())!;
    expect(row.guard.for_minutes).toBe(4);

    const tabNow = cheerio.load(
      (await admin.agent.get(`${BASE}/features?feature=${feature.name}&tab=models&environment=staging`).expect(200)).text,
    );
    expect(text(tabNow('#models-tab-rollout'))).toMatch(/rollout running .* serves 1\.00% of staging's users/);

    await admin.agent.post(`${BASE}/rollouts/${row.id}/rollback`).type('form').send({ _csrf: admin.csrf }).expect(303);
    const back = cheerio.load((await admin.agent.get(`${BASE}/rollouts/${row.id}`).expect(200)).text);
    expect(text(back('#rollout-state'))).toMatch(/rolled back 0\.00%/);
    expect(back('#rollout-body').attr('hx-trigger')).toBeUndefined();
    expect(back('#rollout-body noscript')).toHaveLength(0);
    expect(back('#rollout-actions')).toHaveLength(0);
  });

  it('when a viewer opens a rollout, then it shows without actions, and a viewer’s post answers 403 and changes nothing', async () => {
    const { feature, candidate } = await featureWithStable(d);
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    const page = cheerio.load((await viewer.agent.get(`${BASE}/rollouts/${rollout.id}`).expect(200)).text);
    expect(page('#rollout-actions')).toHaveLength(0);
    await viewer.agent.post(`${BASE}/rollouts/${rollout.id}/rollback`).type('form').send({ _csrf: viewer.csrf }).expect(403);
    await viewer.agent
      .post(`${BASE}/rollouts`)
      .type('form')
      .send({ _csrf: viewer.csrf, feature: feature.name, environment: 'staging', model_id: candidate.id })
      .expect(403);
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!.status).toBe('running');
  });

  it('when an admin rolls back a production rollout, then the first post only asks (nothing changes) and the confirmed one acts', async () => {
    const { feature, candidate } = await featureWithStable(d, 'production');
    const rollout = await started(d, feature.id, { environment: 'production', model_id: candidate.id });
    const ask = cheerio.load(
      (await admin.agent.post(`${BASE}/rollouts/${rollout.id}/rollback`).type('form').send({ _csrf: admin.csrf }).expect(200)).text,
    );
    expect(text(ask('#confirmation-title'))).toBe(`Roll back the rollout of ${candidate.display_name} in production?`);
    expect(ask('#confirmation input[name="confirm"]').val()).toBe('yes');
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!.status).toBe('running');
    await admin.agent.post(`${BASE}/rollouts/${rollout.id}/rollback`).type('form').send({ _csrf: admin.csrf, confirm: 'yes' }).expect(303);
    expect((await d.t.db('rollouts').where({ id: rollout.id }).first())!.status).toBe('rolled_back');
  });
});
