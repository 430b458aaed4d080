import crypto from 'node:crypto';
import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { run as evaluateAlerts } from '../../src/jobs/alerts.ts';
import { run as sendDeliveries } from '../../src/jobs/deliveries.ts';
import { run as guard } from '../../src/jobs/rollouts.ts';
import { slackText } from '../../src/services/deliveries.ts';
import { storeBehaviour } from '../../src/services/simulator-settings.ts';
import { API, type Deployments, openDeployments } from '../routes/deployments/setup.ts';
import { featureWithStable, minutesAfter, rolloutAction, started, trafficMinute } from '../routes/rollouts/setup.ts';
import { suffix } from '../setup/factories.ts';
import { text } from '../setup/html.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { signInAs } from '../setup/session.ts';
import { type Receiver, webhookReceiver } from '../setup/webhook-receiver.ts';

// The rollout guard through alerting (issue 18 × issue 17), with an injected clock, on a database of
// this file's own (the deliveries job sends every due delivery there is): a regression fires the
// feature's rollout_regression alert once, with the guard's words, signed to the rule's channel; a
// person dealing with it resolves it; other automatic actions are info notices.

let d: Deployments;
let db: Db;
let drop: () => Promise<void>;
let receiver: Receiver;
const SECRET = `secret-${suffix()}-${suffix()}`;
let channelId: string;

beforeAll(async () => {
  ({ db, drop } = await ownSeededDatabase('rollout_alerts'));
  d = await openDeployments(db);
  receiver = await webhookReceiver();
  const res = await api('post', '/notification-channels', { name: `hook-${suffix()}`, kind: 'webhook', url: receiver.url, secret: SECRET });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  channelId = res.body.data.id;
});
afterAll(async () => {
  await receiver?.close();
  await d?.close();
  await drop?.();
});

const api = (method: 'get' | 'post' | 'patch', path: string, body?: object) =>
  request(d.t.app)[method](`${API}${path}`).set('Authorization', `Bearer ${d.admin.token}`).send(body);
const STAGES = [2500, 5000, 10000].map((percent_bp) => ({ percent_bp, min_minutes: 3, min_requests_per_arm: 100 }));

/** A rollout started with its feature's rollout rule sent to the test channel, and its traffic by the minute. */
async function guarded(guardInput: object, errorRates = { stable: 0.01, candidate: 0.1 }) {
  const { feature, stable, candidate } = await featureWithStable(d);
  await storeBehaviour(db, stable.name, { latency_ms: 200, error_rate: errorRates.stable }, 'test');
  await storeBehaviour(db, candidate.name, { latency_ms: 200, error_rate: errorRates.candidate }, 'test');
  const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id, stages: STAGES, guard: guardInput });
  const rule = (await db('alert_rules').where({ feature_id: feature.id, kind: 'rollout_regression' }).first())!;
  const patched = await api('patch', `/alert-rules/${rule.id}`, { channels: [channelId] });
  expect(patched.status, JSON.stringify(patched.body)).toBe(200);
  const row = (await db('rollouts').where({ id: rollout.id }).first())!;
  const t0 = new Date(Math.ceil(row.stage_started_at.getTime() / 60_000) * 60_000);
  /** Traffic of minute m, then the guard's check at its end. */
  const minute = async (m: number) => {
    await trafficMinute(d, {
      featureId: feature.id,
      environment: 'staging',
      rolloutId: rollout.id,
      stable,
      candidate,
      users: 2000,
      at: minutesAfter(t0, m),
    });
    await guard({ db, now: minutesAfter(t0, m + 1) });
  };
  const alert = async () => (await db('alerts').where({ rule_id: rule.id }).first())!;
  const events = async () =>
    db('alert_events')
      .where({ alert_id: (await alert()).id })
      .orderBy('id');
  return { feature, rule, id: rollout.id, t0, minute, alert, events };
}

/** Runs the deliveries job until it sends nothing more (it sends one delivery per channel a run). */
async function send(at: Date) {
  for (let before = -1; before !== receiver.received.length; ) {
    before = receiver.received.length;
    await sendDeliveries({ db, now: at, providers: d.t.app.providers });
  }
}
const signed = (r: Receiver['received'][number]) =>
  r.headers['x-switchboard-signature'] ===
  `sha256=${crypto.createHmac('sha256', SECRET).update(`${r.headers['x-switchboard-timestamp']}.${r.body}`).digest('hex')}`;
const bodies = () => receiver.received.map((r) => JSON.parse(r.body));

describe('the rollout guard through alerting', () => {
  it('when the guard rolls back a worse candidate, then one rollout_regression alert fires with its words, one signed delivery carries them, the jobs do not repeat it, and acknowledging resolves it', async () => {
    const g = await guarded({ for_minutes: 3 });
    const seen = receiver.received.length;
    for (let m = 0; m < 4; m++) await g.minute(m);
    expect((await db('rollouts').where({ id: g.id }).first())!.status).toBe('rolled_back');
    const [decision] = await db('rollout_decisions').where({ rollout_id: g.id, action: 'rollback' });
    expect(decision.explanation).toMatch(
      /^candidate \d+\.\d% errors \(n=[\d,]+\) vs stable \d\.\d% \(n=[\d,]+\), z = \d+\.\d, for 3 min → rolled back to 0%$/,
    );
    expect(await g.alert()).toMatchObject({ state: 'firing', feature_id: g.feature.id });
    const firing = (await g.events()).filter((e) => e.to_state === 'firing');
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({ kind: 'transition', from_state: 'ok', note: decision.explanation, actor: 'rollout guard' });

    const later = minutesAfter(g.t0, 5);
    await send(later);
    for (let i = 0; i < 2; i++) {
      await evaluateAlerts({ db, now: minutesAfter(later, i) });
      await send(minutesAfter(later, i));
    }
    expect(receiver.received.slice(seen)).toHaveLength(1);
    const [message] = receiver.received.slice(seen);
    expect(signed(message!)).toBe(true);
    expect(JSON.parse(message!.body)).toMatchObject({
      notice: 'firing',
      rule: { kind: 'rollout_regression', severity: 'critical' },
      feature: { id: g.feature.id },
      environment: 'staging',
      message: decision.explanation,
      rollout: { id: g.id, status: 'rolled_back', percent: 0 },
    });
    expect(await g.alert()).toMatchObject({ state: 'firing' });
    expect((await g.events()).filter((e) => e.to_state === 'firing')).toHaveLength(1);
    // A Slack channel gets the same words in one line.
    expect(slackText(JSON.parse(message!.body))).toBe(
      `[FIRING] rollout on ${g.feature.name} in staging: ${decision.explanation} /platform/ai-management/rollouts/${g.id}`,
    );
    const admin = await signInAs(d.t, 'admin');
    const page = cheerio.load((await admin.agent.get(`/platform/ai-management/alerts/${(await g.alert()).id}`).expect(200)).text);
    expect(text(page('h1'))).toBe(`Rollout regression on ${g.feature.name}`);
    expect(text(page('#alert-timeline'))).toContain(decision.explanation);
    const list = cheerio.load((await admin.agent.get('/platform/ai-management/alerts').expect(200)).text);
    expect(text(list(`#alert-rules tr[data-rule="${g.rule.id}"]`))).toMatch(/Rollout regression \(default\).*each rollout's guard margins/);

    const ack = await api('post', `/alerts/${(await g.alert()).id}/ack`, { note: 'seen, the candidate needs work' });
    expect(ack.status, JSON.stringify(ack.body)).toBe(200);
    expect(await g.alert()).toMatchObject({ state: 'ok' });
    expect((await g.events()).at(-1)).toMatchObject({ kind: 'transition', from_state: 'firing', to_state: 'ok', note: 'acknowledged' });
    await send(minutesAfter(later, 3));
    expect(
      bodies()
        .slice(seen)
        .map((b) => b.notice),
    ).toEqual(['firing', 'resolved']);
  });

  it('when the guard pauses for a regression, then the alert fires, and a person resuming the rollout resolves it', async () => {
    const g = await guarded({ for_minutes: 2, on_regression: 'pause' });
    const seen = receiver.received.length;
    for (let m = 0; m < 3; m++) await g.minute(m);
    expect((await db('rollouts').where({ id: g.id }).first())!).toMatchObject({ status: 'paused', percent_bp: 2500 });
    expect(await g.alert()).toMatchObject({ state: 'firing' });
    await rolloutAction(d, g.id, 'resume').expect(200);
    expect(await g.alert()).toMatchObject({ state: 'ok' });
    expect((await g.events()).map((e) => [e.from_state, e.to_state, e.note])).toEqual([
      ['ok', 'firing', expect.stringMatching(/→ paused at 25%$/)],
      ['firing', 'ok', 'resumed at 25%'],
    ]);
    await send(minutesAfter(g.t0, 4));
    // The person acts on the real clock, the guard on the injected one (minutes ahead): compare without the order.
    expect(
      bodies()
        .slice(seen)
        .map((b) => [b.notice, b.message])
        .sort(),
    ).toEqual([
      ['firing', expect.stringMatching(/→ paused at 25%$/)],
      ['resolved', 'resumed at 25%'],
    ]);
    await rolloutAction(d, g.id, 'abort').expect(200); // the guard of the next tests would pause it again
  });

  it('when a healthy candidate advances, then the advance is a rollout event and an info notice, and no alert fires', async () => {
    const g = await guarded({}, { stable: 0.01, candidate: 0.01 });
    const seen = receiver.received.length;
    for (let m = 0; m < 3; m++) await g.minute(m);
    expect((await db('rollouts').where({ id: g.id }).first())!.percent_bp).toBe(5000);
    expect(await g.alert()).toMatchObject({ state: 'ok' });
    expect((await g.events()).map((e) => [e.kind, e.note])).toEqual([['rollout', expect.stringMatching(/→ advanced to 50%$/)]]);
    await send(minutesAfter(g.t0, 4));
    expect(bodies().slice(seen)).toEqual([
      expect.objectContaining({
        notice: 'rollout',
        rule: expect.objectContaining({ severity: 'info' }),
        message: expect.stringMatching(/advanced to 50%$/),
      }),
    ]);
  });

  it('the feature’s rollout rule is a system rule: listed, its kind and threshold cannot be changed, and it cannot be deleted', async () => {
    const g = await guarded({});
    const listed = (await api('get', '/alert-rules')).body.data.find((r: { id: string }) => r.id === g.rule.id);
    expect(listed).toMatchObject({ kind: 'rollout_regression', feature_id: g.feature.id, is_default: true, channels: [channelId] });
    expect((await api('patch', `/alert-rules/${g.rule.id}`, { threshold: 5 })).status).toBe(422);
    expect((await request(d.t.app).delete(`${API}/alert-rules/${g.rule.id}`).set('Authorization', `Bearer ${d.admin.token}`)).status).toBe(
      409,
    );
    expect((await api('post', '/alert-rules', { kind: 'rollout_regression', threshold: 0 })).status).toBe(422);
  });
});
