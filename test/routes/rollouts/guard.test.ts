import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/jobs/rollouts.ts';
import { storeBehaviour } from '../../../src/services/simulator-settings.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { type Deployments, openDeployments } from '../deployments/setup.ts';
import { featureWithStable, minutesAfter, rolloutAction, started, trafficMinute } from './setup.ts';

// The guard job (src/jobs/rollouts.ts) with an injected clock, on traffic the simulator's stored
// behaviour shapes: it rolls a worse candidate back after "for" minutes, advances a healthy one
// stage by stage, and holds then pauses a rollout without enough traffic.

// A database of this file's own: the guard job takes every running rollout under one lock, so a
// guard run of another file at the same time (with its own clock) would take this file's rollouts.
let d: Deployments;
let drop: () => Promise<void>;
beforeAll(async () => {
  const own = await ownSeededDatabase('rollout_guard');
  drop = own.drop;
  d = await openDeployments(own.db);
});
afterAll(async () => {
  await d?.close();
  await drop?.();
});

const STAGES = [2500, 5000, 10000].map((percent_bp) => ({ percent_bp, min_minutes: 3, min_requests_per_arm: 100 }));

/** A rollout started now, and the first whole minute after its start (traffic goes from there). */
async function guarded(guard: object, stages = STAGES) {
  const { feature, stable, candidate } = await featureWithStable(d);
  const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id, stages, guard });
  const row = (await d.t.db('rollouts').where({ id: rollout.id }).first())!;
  const t0 = new Date(Math.ceil(row.stage_started_at.getTime() / 60_000) * 60_000);
  const minute = (m: number, users = 2000) =>
    trafficMinute(d, {
      featureId: feature.id,
      environment: 'staging',
      rolloutId: rollout.id,
      stable,
      candidate,
      users,
      at: minutesAfter(t0, m),
    });
  return { feature, stable, candidate, id: rollout.id, t0, minute };
}

const rowOf = async (id: string) => (await d.t.db('rollouts').where({ id }).first())!;
const decisionsOf = (id: string) => d.t.db('rollout_decisions').where({ rollout_id: id }).orderBy('id');
const configOf = (name: string) =>
  request(d.t.app).get(`/api/v1/features/${name}/config?environment=staging`).set('Authorization', `Bearer ${d.readToken}`).expect(200);

describe('jobs/rollouts run(): the guard', () => {
  it('when the candidate errs at 10% against stable at 1%, then after "for" minutes it is rolled back to 0%, audited with its numbers, and the config has a new ETag', async () => {
    const g = await guarded({ for_minutes: 3 });
    await storeBehaviour(d.t.db, g.stable.name, { latency_ms: 200, error_rate: 0.01 }, 'test');
    await storeBehaviour(d.t.db, g.candidate.name, { latency_ms: 200, error_rate: 0.1 }, 'test');
    const live = await configOf(g.feature.name);
    for (let m = 0; m < 3; m++) {
      await g.minute(m);
      await run({ db: d.t.db, now: minutesAfter(g.t0, m + 1) });
      expect((await rowOf(g.id)).status, `minute ${m}`).toBe('running');
    }
    await g.minute(3);
    await run({ db: d.t.db, now: minutesAfter(g.t0, 4) });
    expect(await rowOf(g.id)).toMatchObject({ status: 'rolled_back', percent_bp: 0 });
    const [decision] = (await decisionsOf(g.id)).filter((x) => x.automatic);
    expect(decision).toMatchObject({ action: 'rollback', from_bp: 2500, to_bp: 0, decided_by: 'rollout guard' });
    expect(decision.explanation).toMatch(
      // Each arm's errors are every 10th (100th) of its requests in each minute, so the rates land just under 10% (1%).
      /^candidate (9\.[5-9]|10\.0)% errors \(n=[\d,]+\) vs stable (0\.9|1\.0)% \(n=[\d,]+\), z = \d+\.\d, for 3 min → rolled back to 0%$/,
    );
    const audit = await d.t.db('audit_log').where({ entity_id: g.feature.id, action: 'rollout.rollback', actor_label: 'rollout guard' });
    expect(audit).toHaveLength(1);
    const after = await configOf(g.feature.name);
    expect(after.headers.etag).not.toBe(live.headers.etag);
    expect(after.body.rollout).toBeNull();
  });

  it('when the candidate is healthy, then it advances through every stage after each one’s minutes, and Complete leaves the candidate assigned', async () => {
    const g = await guarded({});
    let m = 0;
    for (const next of [5000, 10000]) {
      for (let i = 0; i < 3; i++, m++) {
        await g.minute(m);
        await run({ db: d.t.db, now: minutesAfter(g.t0, m + 1) });
      }
      expect((await rowOf(g.id)).percent_bp).toBe(next);
    }
    const auto = (await decisionsOf(g.id)).filter((x) => x.automatic);
    expect(auto.map((x) => [x.action, x.to_bp])).toEqual([
      ['advance', 5000],
      ['advance', 10000],
    ]);
    expect(auto[0].explanation).toMatch(/^healthy for 3 min \(candidate 0\.0% errors .*\) → advanced to 50%$/);
    await rolloutAction(d, g.id, 'complete').expect(200);
    expect(await rowOf(g.id)).toMatchObject({ status: 'completed', percent_bp: 10000 });
    expect((await d.activeRows(g.feature.id, 'staging')).map((a) => a.model_id)).toEqual([g.candidate.id]);
    const [promote] = (await d.deploymentsOf(g.feature.id)).filter((x) => x.kind === 'promote');
    expect(promote).toMatchObject({ status: 'success', model_id: g.candidate.id });
  });

  it('when too little traffic comes, then the stage holds once its minutes passed, then pauses at the maximum wait', async () => {
    const g = await guarded({ max_wait_minutes: 6, on_insufficient: 'pause' });
    for (let m = 0; m < 6; m++) {
      await g.minute(m, 40);
      await run({ db: d.t.db, now: minutesAfter(g.t0, m + 1) });
    }
    const auto = (await decisionsOf(g.id)).filter((x) => x.automatic);
    expect(auto.map((x) => x.action)).toEqual(['hold', 'pause']);
    expect(auto[0].explanation).toMatch(
      /^too little traffic: candidate n=\d+, stable n=\d+ \(minimum 100 each\) after 3 min → holding at 25%$/,
    );
    expect(await rowOf(g.id)).toMatchObject({ status: 'paused', percent_bp: 2500 });
  });

  it('when another instance holds the lock, then this run does nothing', async () => {
    await d.t.db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [0x5b_0018]);
      expect(await run({ db: d.t.db, now: new Date() })).toEqual({ ran: false, actions: [] });
    });
  });
});
