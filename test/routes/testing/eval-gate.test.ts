import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { makeTestCase } from '../../setup/test-cases.ts';
import { openPrompts, PAGE, type Prompts } from '../prompts/setup.ts';

// The eval gate (issue 16, SPEC §10.2): with "production changes need a suite pass rate ≥ P%" set, a
// production change — a model assigned, a prompt activated — runs the feature's suite against the
// candidate as a check step, stored on the deployment with a link to the run, and refuses below P or
// with a critical case failing; other environments are not gated. The simulator always answers "ok".

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

async function gated(minPassRate: number) {
  const { feature, model } = await p.feature();
  await p.t.db('ai_features').where({ id: feature.id }).update({ min_eval_pass_rate: minPassRate });
  return { feature: { ...feature, min_eval_pass_rate: minPassRate } as FeatureRecord, model };
}

const passing = (featureId: string, name = 'says ok') =>
  makeTestCase(p.t.db, featureId, { name, assertions: [{ type: 'contains', value: 'ok' }] });
const failing = (featureId: string, critical = false) =>
  makeTestCase(p.t.db, featureId, {
    name: critical ? 'must say nope' : 'says nope',
    critical,
    assertions: [{ type: 'equals', value: 'nope' }],
  });

const suiteCheck = (deployment: { checks: { name: string }[] }) => deployment.checks.find((c) => c.name === 'suite');

describe('the eval gate on prompt activation', () => {
  it('when the suite passes below P in production, then 422 with the suite check linking its run, and the active version stays; once it passes, the version is activated', async () => {
    const { feature } = await gated(80);
    await passing(feature.id);
    const bad = await failing(feature.id);
    await p.saved(feature.id, { template: 'Say ok', sample_values: {} });

    const refused = await p.api('post', `/features/${feature.id}/prompts/1/activate`).send({ environment: 'production' });
    expect(refused.status).toBe(422);
    const deployment = refused.body.details.deployment;
    const run = await p.t.db('test_runs').where({ deployment_id: deployment.id }).first();
    expect(run).toMatchObject({ purpose: 'gate', status: 'done', pass_rate: 50, environment: 'production' });
    expect(suiteCheck(deployment)).toEqual({
      name: 'suite',
      ok: false,
      detail: 'suite pass rate 50% is below 80%',
      href: `${PAGE}/${feature.name}/test-runs/${run!.id}`,
    });
    expect(deployment.error).toBe('suite pass rate 50% is below 80%');
    expect(await p.activeVersion(feature.id, 'production')).toBeNull();
    // The deployment's page links the run.
    const $ = await p.page(`/platform/ai-management/deployments/${deployment.id}`);
    expect($('#checks [data-check="suite"] a').attr('href')).toBe(`${PAGE}/${feature.name}/test-runs/${run!.id}`);
    // And the run's page links back to the deployment it gated.
    const runPage = await p.page(`${PAGE}/${feature.name}/test-runs/${run!.id}`);
    expect(runPage(`a[href="/platform/ai-management/deployments/${deployment.id}"]`).text()).toBe('eval gate of a production change');

    await p.t.db('test_cases').where({ id: bad.id }).update({ deleted_at: new Date() });
    const applied = await p.api('post', `/features/${feature.id}/prompts/1/activate`).send({ environment: 'production' });
    expect(applied.status, JSON.stringify(applied.body)).toBe(201);
    expect(suiteCheck(applied.body.data.deployment)).toMatchObject({
      ok: true,
      detail: 'suite pass rate 100%, at least 80%, no critical case failed',
    });
    expect(await p.activeVersion(feature.id, 'production')).toBe(1);
  });

  it('when the change is to staging, then no suite runs', async () => {
    const { feature } = await gated(80);
    await failing(feature.id);
    await p.saved(feature.id, { template: 'Say ok', sample_values: {} });
    const res = await p.api('post', `/features/${feature.id}/prompts/1/activate`).send({ environment: 'staging' });
    expect(res.status).toBe(201);
    expect(suiteCheck(res.body.data.deployment)).toBeUndefined();
    expect(await p.t.db('test_runs').where({ feature_id: feature.id })).toEqual([]);
  });
});

describe('the eval gate on a model change', () => {
  it('when a critical case fails, then a production assignment is refused even above P, and the old model keeps serving', async () => {
    const { feature, model } = await gated(50);
    for (const n of ['a', 'b', 'c']) await passing(feature.id, n);
    await failing(feature.id, true);
    const candidate = await makeModel(p.t.db);
    const res = await p.api('post', `/features/${feature.id}/models`).send({ model_id: candidate.id, environment: 'production' });
    expect(res.status).toBe(422);
    expect(suiteCheck(res.body.details.deployment)).toMatchObject({ ok: false, detail: '1 critical case failed (suite pass rate 75%)' });
    const active = await p.t.db('feature_model_assignments').where({ feature_id: feature.id, environment: 'production', is_active: true });
    expect(active.map((a) => a.model_id)).toEqual([model.id]);
    const run = await p.t.db('test_runs').where({ feature_id: feature.id, purpose: 'gate' }).first();
    expect(run).toMatchObject({ model_id: candidate.id, deployment_id: res.body.details.deployment.id });
  });

  it('when the suite passes, then the assignment is made with the suite check stored on the deployment', async () => {
    const { feature } = await gated(100);
    await passing(feature.id);
    const candidate = await makeModel(p.t.db);
    const res = await p.api('post', `/features/${feature.id}/models`).send({ model_id: candidate.id, environment: 'production' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const stored = await p.t.db('deployments').where({ id: res.body.data.deployment.id }).first();
    expect(suiteCheck(stored!)).toMatchObject({ ok: true });
  });

  it('when the feature has no case, then the change is refused saying so, and no run is made', async () => {
    const { feature, model } = await gated(80);
    const candidate = await makeModel(p.t.db);
    const res = await p.api('post', `/features/${feature.id}/models`).send({ model_id: candidate.id, environment: 'production' });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('the feature has no test cases to gate on (minimum 80%); add some or clear the setting');
    expect(await p.t.db('test_runs').where({ feature_id: feature.id })).toEqual([]);
    const active = await p.t.db('feature_model_assignments').where({ feature_id: feature.id, environment: 'production', is_active: true });
    expect(active.map((a) => a.model_id)).toEqual([model.id]);
    // The Models tab's form shows the refusal with its checks.
    const form = await p.admin.agent
      .post(`${PAGE}/${feature.name}/models`)
      .type('form')
      .send({ _csrf: p.admin.csrf, model_id: candidate.id, environment: 'production', confirm: 'yes' });
    expect(form.status).toBe(422);
    expect(form.text).toContain('the feature has no test cases to gate on');
    expect(text(cheerio.load(form.text)('[data-check="failed"]'))).toMatch(/^suite:/);
  });
});
