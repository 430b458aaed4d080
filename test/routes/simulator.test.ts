import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startTestApp } from '../setup/app.ts';
import { makeFeature, makeModel } from '../setup/factories.ts';
import { API, type Deployments, openDeployments } from './deployments/setup.ts';

// Making the simulator's models slow or failing, for rehearsing a bad provider.

let d: Deployments;
beforeAll(async () => {
  d = await openDeployments();
});
afterAll(() => d?.close());

describe('PUT /api/platform/ai-management/simulator/models/:name', () => {
  it('when an admin makes a simulator model fail, then the next deployment of it is refused at the smoke check; bad input is 422, viewers 403', async () => {
    const model = await makeModel(d.t.db);
    const feature = await makeFeature(d.t.db);
    const put = (body: object, token = d.admin.token) =>
      request(d.t.app).put(`${API}/simulator/models/${model.name}`).set('Authorization', `Bearer ${token}`).send(body);
    await put({ latency_ms: 10, error_rate: 2 }).expect(422);
    await put({ latency_ms: 10, error_rate: 1 }, d.readToken).expect(403);
    await request(d.t.app)
      .put(`${API}/simulator/models/gpt-4o`)
      .set('Authorization', `Bearer ${d.admin.token}`)
      .send({ latency_ms: 10, error_rate: 1 })
      .expect(404);
    expect((await put({ latency_ms: 10, error_rate: 1 }).expect(200)).body.data).toEqual({
      model: model.name,
      latency_ms: 10,
      error_rate: 1,
    });
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/smoke request failed/);
    await put({ latency_ms: 10, error_rate: 0 }).expect(200);
    await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(await d.t.db('audit_log').where({ action: 'simulator.configured', entity_id: model.id }).count({ n: '*' })).toEqual([{ n: 2 }]);
  });

  it('is stored: another instance on the same database, and an app started afresh, answer alike — and nothing is stored when refused', async () => {
    const model = await makeModel(d.t.db);
    const other = startTestApp();
    try {
      const call = async (app: App) => {
        const adapter = await app.providers.adapterFor((await d.t.db('ai_providers').where({ kind: 'simulator' }).first())!);
        return adapter.send(model.name, 'llm', { input: 'hello' });
      };
      expect((await call(other.app)).ok).toBe(true); // read before the change: the other instance has a cache to outlive
      await request(d.t.app)
        .put(`${API}/simulator/models/${model.name}`)
        .set('Authorization', `Bearer ${d.admin.token}`)
        .send({ latency_ms: 5, error_rate: 2 })
        .expect(422);
      expect(await d.t.db('simulator_behaviours').where({ model_name: model.name }).first()).toBeUndefined();
      await request(d.t.app)
        .put(`${API}/simulator/models/${model.name}`)
        .set('Authorization', `Bearer ${d.admin.token}`)
        .send({ latency_ms: 5, error_rate: 1 })
        .expect(200);
      expect((await call(d.t.app)).ok).toBe(false); // this instance at once
      (await other.app.providers.simulator()).reload(); // the other within its reload period (2 s), without waiting for it here
      expect((await call(other.app)).ok).toBe(false);
      const fresh = startTestApp();
      expect((await call(fresh.app)).ok).toBe(false);
      await fresh.close();
    } finally {
      await other.close();
    }
  });
});
