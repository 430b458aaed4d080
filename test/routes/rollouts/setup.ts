import request from 'supertest';
import { expect } from 'vitest';
import { runRollup } from '../../../src/metrics/rollup.ts';
import { armOf } from '../../../src/services/rollout-plan.ts';
import { storedBehaviours } from '../../../src/services/simulator-settings.ts';
import { makeFeature, makeModel } from '../../setup/factories.ts';
import type { ModelRecord } from '../../setup/rows.ts';
import { insertUsage, MINUTE, modelRef, type UsageEvent } from '../../setup/usage-factory.ts';
import { API, type Deployments } from '../deployments/setup.ts';

// Rollouts over the JSON API, and the traffic the guard reads: the events of one minute as the
// simulator's stored behaviour of each model makes them (its error rate, exactly, in a fixed order).

export { API };

export async function featureWithStable(d: Deployments, environment: 'staging' | 'production' = 'staging') {
  const feature = await makeFeature(d.t.db);
  const [stable, candidate] = [await makeModel(d.t.db), await makeModel(d.t.db)];
  await d.assigned(feature.id, stable.id, environment);
  return { feature, stable, candidate };
}

export const startRollout = (d: Deployments, featureId: string, body: object, token = d.admin.token) =>
  request(d.t.app).post(`${API}/features/${featureId}/rollouts`).set('Authorization', `Bearer ${token}`).send(body);

export const rolloutAction = (d: Deployments, id: string, action: string, body: object = {}, token = d.admin.token) =>
  request(d.t.app).post(`${API}/rollouts/${id}/${action}`).set('Authorization', `Bearer ${token}`).send(body);

export async function started(d: Deployments, featureId: string, body: object) {
  const res = await startRollout(d, featureId, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.data as { id: string; salt?: string; percent_bp: number };
}

/**
 * One minute of traffic from `users` end users of a feature in an environment, at `at`: each user's
 * request goes to its arm's model, failing as that model's simulator error rate says (every k-th).
 */
export async function trafficMinute(
  d: Deployments,
  o: {
    featureId: string;
    environment: string;
    rolloutId: string;
    stable: ModelRecord;
    candidate: ModelRecord;
    users: number;
    at: Date;
    /** A prompt rollout: each arm's prompt version and error rate (the model's simulator rate otherwise). */
    prompts?: Record<'stable' | 'candidate', { version: number; errorRate: number }>;
  },
) {
  const rollout = (await d.t.db('rollouts').where({ id: o.rolloutId }).first())!;
  const behaviours = await storedBehaviours(d.t.db);
  const counters = { stable: 0, candidate: 0 };
  const sim = { id: d.simulatorId, name: 'simulator' };
  const events: UsageEvent[] = [];
  for (let i = 0; i < o.users; i++) {
    const uid = `user-${i}`;
    const arm = armOf(rollout.salt, rollout.percent_bp, uid);
    const model = arm === 'candidate' ? o.candidate : o.stable;
    const rate = o.prompts?.[arm].errorRate ?? behaviours.get(model.name)?.errorRate ?? 0;
    const k = counters[arm]++;
    const failed = Math.floor((k + 1) * rate) > Math.floor(k * rate);
    events.push({
      feature_id: o.featureId,
      model: modelRef(model, sim),
      environment: o.environment as UsageEvent['environment'],
      end_user_id: uid,
      status: failed ? 'error' : 'success',
      prompt_version: o.prompts?.[arm].version ?? null,
      created_at: new Date(o.at.getTime() + (i % 60) * 1000),
    });
  }
  await insertUsage(d.t.db, events);
  await runRollup({ db: d.t.db });
}

export const minutesAfter = (t: Date, m: number) => new Date(t.getTime() + m * MINUTE);
