import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { apiKey, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { answerJson, CHAT_COMPLETION, fakeProvider, gate } from '../../setup/fake-provider.ts';
import { type Deployments, modelNamed, openDeployments, passed } from './setup.ts';

// Deployments that succeed: the assignment switches with the deployment, its checks, a smoke health
// check and the audit stored; races settle to one active assignment; a model or provider changed
// while the smoke request runs stops the switch.

let d: Deployments;
let t: TestContext;
beforeAll(async () => {
  d = await openDeployments();
  ({ t } = d);
});
afterAll(() => d?.close());

describe('POST /api/platform/ai-management/features/:id/models', () => {
  it('when a healthy simulator model is deployed to staging, then it serves there, with the deployment, its checks, a smoke health check and the audit stored', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(res.body.success).toBe(true);
    const { assignment, deployment } = res.body.data;
    expect(assignment).toMatchObject({
      feature_id: feature.id,
      model_id: model.id,
      environment: 'staging',
      is_active: true,
      deactivated_at: null,
      assigned_by: d.admin.label,
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

    const active = await d.activeRows(feature.id, 'staging');
    expect(active.map((a) => [a.id, a.model_id])).toEqual([[assignment.id, model.id]]);
    expect(await t.db('feature_model_assignments').where({ feature_id: feature.id }).whereNot({ environment: 'staging' })).toEqual([]);
    const [stored] = await d.deploymentsOf(feature.id);
    expect(stored).toMatchObject({
      id: deployment.id,
      status: 'success',
      assignment_id: assignment.id,
      error: null,
      requested_by: d.admin.label,
    });
    expect(stored.finished_at).toBeInstanceOf(Date);
    expect(stored.finished_at?.getTime()).toBeGreaterThanOrEqual(stored.started_at.getTime());
    expect(stored.checks).toEqual(passed());
    const health = await d.healthOf(model.id);
    expect(health).toHaveLength(1);
    expect(health[0]).toMatchObject({
      provider_id: d.simulatorId,
      kind: 'smoke',
      status: 'ok',
      error: null,
      latency_ms: stored.checks[2].latency_ms,
    });
    expect(health[0].latency_ms).toBeGreaterThanOrEqual(40); // the simulator's default latency
    const audit = await d.auditOf(feature.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'deployment.succeeded',
      actor_type: 'token',
      actor_label: d.admin.label,
      before: { environment: 'staging', model_id: null },
      after: { environment: 'staging', model_id: model.id, deployment_id: deployment.id, assignment_id: assignment.id },
    });
  });

  it('when a second model is deployed, then the first assignment is deactivated and the deployment names the model it replaced', async () => {
    const feature = await makeFeature(t.db);
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    const old = await d.assigned(feature.id, first.id);
    const res = await d.deployTo(feature.id, { model_id: second.id, environment: 'staging' }).expect(201);
    const { assignment, deployment } = res.body.data;
    expect(deployment).toMatchObject({ previous_model_id: first.id, model_id: second.id, status: 'success' });

    const rows = await t.db('feature_model_assignments').where({ feature_id: feature.id }).orderBy('assigned_at');
    expect(rows.map((r) => [r.id, r.model_id, r.is_active])).toEqual([
      [old.id, first.id, false],
      [assignment.id, second.id, true],
    ]);
    expect(rows[0].deactivated_at).toBeInstanceOf(Date);
    expect(rows[1].deactivated_at).toBeNull();
    expect((await d.deploymentsOf(feature.id)).map((d) => [d.status, d.previous_model_id])).toEqual([
      ['success', null],
      ['success', first.id],
    ]);
    const audit = await d.auditOf(feature.id);
    expect(audit.map((a) => a.action)).toEqual(['deployment.succeeded', 'deployment.succeeded']);
    expect(audit[1]).toMatchObject({
      before: { environment: 'staging', model_id: first.id },
      after: { model_id: second.id, assignment_id: assignment.id },
    });
  });

  it('when the seeded simulator chat model is deployed to each environment, then each environment has its own single active assignment', async () => {
    const feature = await makeFeature(t.db);
    const simChat = await modelNamed(d, 'sim-chat');
    for (const environment of ['development', 'staging', 'production'] as const) await d.assigned(feature.id, simChat.id, environment);
    const rows = await t.db('feature_model_assignments').where({ feature_id: feature.id, is_active: true }).orderBy('environment');
    expect(rows.map((r) => [r.environment, r.model_id])).toEqual([
      ['development', simChat.id],
      ['production', simChat.id],
      ['staging', simChat.id],
    ]);
  });
});

describe('POST /api/platform/ai-management/features/:id/models concurrency', () => {
  it('when 20 deployments to one feature and environment race, alternating two models (then 10 more), then one assignment is active and every deployment is settled', async () => {
    const feature = await makeFeature(t.db);
    const models = [await makeModel(t.db), await makeModel(t.db)];
    const wave = (n: number) =>
      Promise.all(Array.from({ length: n }, (_v, i) => d.deployTo(feature.id, { model_id: models[i % 2].id, environment: 'production' })));
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

    const active = await d.activeRows(feature.id, 'production');
    expect(active).toHaveLength(1);
    const deployments = await d.deploymentsOf(feature.id);
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
    const audit = await d.auditOf(feature.id);
    expect(audit.filter((e) => e.action === 'deployment.succeeded')).toHaveLength(created);
    expect(audit.filter((e) => e.action === 'deployment.refused')).toHaveLength(30 - created);
  });
});

describe('POST /api/platform/ai-management/features/:id/models while the model or provider changes', () => {
  it('when the model is taken offline, or its provider deactivated, while the smoke request runs, then the switch is refused (409) and the old assignment stays', async () => {
    for (const change of ['model offline', 'provider inactive'] as const) {
      // The provider holds its answer to the smoke request until the change is made.
      const answer = gate();
      const server = await fakeProvider(answerJson(CHAT_COMPLETION, { after: answer.opened }));
      try {
        const provider = await makeProvider(t.db, { status: 'active', base_url: server.url, key: apiKey() });
        const model = await makeModel(t.db, { provider_id: provider.id });
        const feature = await makeFeature(t.db);
        const pending = d.deployTo(feature.id, { model_id: model.id, environment: 'production' }).then((r) => r);
        await server.received(); // the smoke request is under way
        if (change === 'model offline') await t.db('ai_models').where({ id: model.id }).update({ status: 'offline' });
        else await t.db('ai_providers').where({ id: provider.id }).update({ status: 'inactive' });
        answer.open();
        const res = await pending;
        expect(res.status, JSON.stringify(res.body)).toBe(409);
        expect(res.body.error).toMatch(/^Changed while this deployment ran: .*(offline|inactive)/);
        expect(await d.activeRows(feature.id, 'production')).toEqual([]);
        expect((await t.db('deployments').where({ id: res.body.details.deployment.id }).first())?.status).toBe('failed');
        expect(server.hits).toEqual([{ method: 'POST', url: '/v1/chat/completions', auth: expect.stringMatching(/^Bearer sk-/) }]);
      } finally {
        await server.close();
      }
    }
  });
});
