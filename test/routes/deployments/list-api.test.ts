import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import type { Json } from '../../setup/rows.ts';
import { withUsageDatabase } from '../../setup/usage-factory.ts';
import { API, type Deployments, openDeployments, passed } from './setup.ts';

// The deployment history and a feature's assignments through the JSON API.

let d: Deployments;
let t: TestContext;
beforeAll(async () => {
  d = await openDeployments();
  ({ t } = d);
});
afterAll(() => d?.close());

describe('GET /api/platform/ai-management/deployments', () => {
  const list = (query: string, token = d.readToken) =>
    request(t.app).get(`${API}/deployments${query}`).set('Authorization', `Bearer ${token}`);

  it('when paged, then pages are newest first, fit together, and the total is the count of all deployments', async () => {
    // A database of its own: other test files deploy at the same time, and paging is about order.
    await withUsageDatabase(async (db, url) => {
      const own = startTestApp({ databaseUrl: url }, db);
      try {
        const [adminToken, readToken] = [(await makeToken(db, 'admin')).token, (await makeToken(db, 'read')).token];
        const models = [await makeModel(db), await makeModel(db), await makeModel(db)];
        const feature = await makeFeature(db);
        for (const m of models) await d.deployTo(feature.id, { model_id: m.id, environment: 'staging' }, adminToken, own).expect(201);
        const n = Number((await db('deployments').count({ n: '*' }))[0].n);
        const ownList = (query: string) => request(own.app).get(`${API}/deployments${query}`).set('Authorization', `Bearer ${readToken}`);
        const all = await ownList('?limit=6&offset=0').expect(200);
        expect(all.body.success).toBe(true);
        expect(all.body.metadata).toEqual({ limit: 6, offset: 0, total: n });
        expect(all.body.data).toHaveLength(Math.min(6, n));
        // The three just made are the newest, newest first.
        expect(all.body.data.slice(0, 3).map((x: { model_id: string }) => x.model_id)).toEqual(models.map((m) => m.id).reverse());
        expect(all.body.data[0]).toMatchObject({
          feature_id: feature.id,
          feature_name: feature.name,
          status: 'success',
          kind: 'assign',
          previous_model_id: models[1].id,
          checks: passed(),
        });
        const times = all.body.data.map((x: { started_at: string }) => x.started_at);
        expect([...times].sort().reverse()).toEqual(times);
        const first = await ownList('?limit=2&offset=0').expect(200);
        const second = await ownList('?limit=2&offset=2').expect(200);
        expect([...first.body.data, ...second.body.data].map((x: { id: string }) => x.id)).toEqual(
          all.body.data.slice(0, 4).map((x: { id: string }) => x.id),
        );
        expect(second.body.metadata).toEqual({ limit: 2, offset: 2, total: n });
        const past = await ownList(`?limit=5&offset=${n}`).expect(200);
        expect(past.body).toMatchObject({ data: [], metadata: { total: n } });
        const defaults = await ownList('').expect(200);
        expect(defaults.body.metadata).toMatchObject({ limit: 50, offset: 0 });
      } finally {
        await own.app.close();
      }
    });
  });

  it('when limit is 0 to 200 it is allowed; limit=500, a negative or fractional value, or offset=-1 answers 400', async () => {
    expect((await list('?limit=0').expect(200)).body.data).toEqual([]);
    expect((await list('?limit=200').expect(200)).body.metadata.limit).toBe(200);
    for (const q of ['?limit=500', '?limit=201', '?limit=-1', '?limit=1.5', '?limit=abc', '?offset=-1', '?offset=x']) {
      const res = await list(q);
      expect([q, res.status]).toEqual([q, 400]);
      expect(res.body.success).toBe(false);
    }
    expect((await list('?limit=500').expect(400)).body.error).toBe('limit must be a whole number from 0 to 200');
  });

  it('when an ingest token or nobody asks, then it answers 403 or 401', async () => {
    await list('', (await makeToken(t.db, 'ingest')).token).expect(403);
    await request(t.app).get(`${API}/deployments`).expect(401);
  });
});

describe('GET /api/platform/ai-management/features/:id/models', () => {
  it('when a feature has had models, then it lists the active assignments and the whole history, newest first', async () => {
    const feature = await makeFeature(t.db);
    const [a, b, c] = [await makeModel(t.db), await makeModel(t.db), await makeModel(t.db)];
    const first = await d.assigned(feature.id, a.id, 'staging');
    const second = await d.assigned(feature.id, b.id, 'staging');
    const prod = await d.assigned(feature.id, c.id, 'production');
    const res = await request(t.app).get(`${API}/features/${feature.id}/models`).set('Authorization', `Bearer ${d.readToken}`).expect(200);
    expect(res.body.success).toBe(true);
    const { active, history } = res.body.data;
    expect(history.map((h: Json) => [h.id, h.environment, h.model_display_name, h.is_active])).toEqual([
      [prod.id, 'production', c.display_name, true],
      [second.id, 'staging', b.display_name, true],
      [first.id, 'staging', a.display_name, false],
    ]);
    expect(history[2].deactivated_at).not.toBeNull();
    expect(history[0]).toMatchObject({ provider_display_name: 'Simulator', assigned_by: d.admin.label });
    expect(active.map((h: { id: string }) => h.id)).toEqual([prod.id, second.id]);
    // By name too, and an unknown feature is 404.
    const byName = await request(t.app)
      .get(`${API}/features/${feature.name}/models`)
      .set('Authorization', `Bearer ${d.readToken}`)
      .expect(200);
    expect(byName.body.data.history).toHaveLength(3);
    await request(t.app).get(`${API}/features/${crypto.randomUUID()}/models`).set('Authorization', `Bearer ${d.readToken}`).expect(404);
  });

  it('when a feature never had a model, then both lists are empty', async () => {
    const feature = await makeFeature(t.db);
    const res = await request(t.app).get(`${API}/features/${feature.id}/models`).set('Authorization', `Bearer ${d.readToken}`).expect(200);
    expect(res.body.data).toEqual({ active: [], history: [] });
  });
});
