import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';

// A protected environment (its changes need another admin's approval): a rollout cannot slip past
// the policy, so it is refused there. The policy is global, so this file has a database of its own.

let t: TestContext;
let drop: () => Promise<void>;
beforeAll(async () => {
  const own = await ownSeededDatabase('rollouts_protected');
  drop = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  await t.db('environment_policies').insert({ environment: 'production', requires_approval: true, updated_by: 'test' });
});
afterAll(async () => {
  await t?.close();
  await drop?.();
});

describe('POST /features/:id/rollouts in a protected environment', () => {
  it('when production needs approval, then 422 saying so, and nothing starts', async () => {
    const { token } = await makeToken(t.db, 'admin');
    const feature = await makeFeature(t.db);
    const [stable, candidate] = [await makeModel(t.db), await makeModel(t.db)];
    await makeAssignment(t.db, { feature_id: feature.id, model_id: stable.id });
    const res = await request(t.app)
      .post(`/api/platform/ai-management/features/${feature.id}/rollouts`)
      .set('Authorization', `Bearer ${token}`)
      .send({ environment: 'production', model_id: candidate.id })
      .expect(422);
    expect(res.body.details).toEqual({ environment: expect.stringMatching(/needs another admin's approval/) });
    expect(await t.db('rollouts').where({ feature_id: feature.id })).toEqual([]);
  });
});
