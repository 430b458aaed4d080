import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { run } from '../../src/jobs/alerts.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelsByName } from '../setup/usage-factory.ts';

// The alerts job (issue 17, SPEC §10.4) with an injected clock: each minute is evaluated once, as of
// that minute, from the rollups and the raw rows not rolled up yet. Its own database, so "every
// feature" is the seeded ones plus this file's; each test works on its own day.

let db: Db;
let drop: () => Promise<void>;
let model: ModelRef;

beforeAll(async () => {
  ({ db, drop } = await ownSeededDatabase('alerts'));
  model = [...(await modelsByName(db)).values()][0]!;
});
afterAll(async () => {
  await db?.destroy();
  await drop?.();
});
// Each test starts its own clock, earlier or later than the last one.
beforeEach(async () => {
  await db('alert_ticks').delete();
});

let day = 0;
/** Minute 0 of a day of the test's own. */
const dayStart = () => Date.UTC(2026, 9, 1) + day++ * DAY;

/** Usage in minute k after t0: n requests, `errors` of them errors. */
async function minuteOfUsage(featureId: string, t0: number, k: number, n: number, errors: number) {
  await insertUsage(
    db,
    Array.from({ length: n }, (_v, i) => ({
      feature_id: featureId,
      model,
      status: i < errors ? ('error' as const) : ('success' as const),
      created_at: new Date(t0 + k * MINUTE + i * 1000),
    })),
  );
}

/** The job as of minute k after t0, a few seconds in (as cron runs it): it evaluates minute k, whose window ends then. */
const tick = (t0: number, k: number) => run({ db, now: new Date(t0 + k * MINUTE + 5000) });

async function channel() {
  const [row] = await db('notification_channels')
    .insert({ name: `c-${suffix()}`, kind: 'webhook', url: 'http://127.0.0.1:9/hook', created_by: 'test' })
    .returning('id');
  return row!.id;
}

async function errorRule(featureId: string, fields: Record<string, unknown> = {}) {
  const [rule] = await db('alert_rules')
    .insert({
      feature_id: featureId,
      environment: 'production',
      kind: 'error_rate',
      threshold: 10,
      window_min: 1,
      for_min: 5,
      min_requests: 5,
      channel_ids: [await channel()],
      created_by: 'test',
      ...fields,
    })
    .returning('*');
  return rule!;
}

const alertOf = async (ruleId: string) => (await db('alerts').where({ rule_id: ruleId }).first())!;
const eventsOf = async (ruleId: string) =>
  db('alert_events')
    .join('alerts', 'alerts.id', 'alert_events.alert_id')
    .where('alerts.rule_id', ruleId)
    .orderBy('alert_events.id')
    .select('alert_events.*');
const deliveriesOf = async (ruleId: string) =>
  db('notification_deliveries')
    .join('alert_events', 'alert_events.id', 'notification_deliveries.event_id')
    .join('alerts', 'alerts.id', 'alert_events.alert_id')
    .where('alerts.rule_id', ruleId)
    .orderBy('notification_deliveries.created_at')
    .select('notification_deliveries.*');

describe('alerts job', () => {
  it('when errors stay over the threshold, then the alert is pending for 4 minutes, fires at the 5th with one notice, and resolves after 5 clear minutes', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id);
    for (let k = 0; k < 6; k++) await minuteOfUsage(feature.id, t0, k, 10, 2);
    for (let k = 6; k < 12; k++) await minuteOfUsage(feature.id, t0, k, 10, 0);

    const states: string[] = [];
    for (let k = 1; k <= 12; k++) {
      await tick(t0, k);
      states.push((await alertOf(rule.id)).state);
    }
    expect(states).toEqual([
      'pending',
      'pending',
      'pending',
      'pending',
      'firing',
      'firing',
      'recovering',
      'recovering',
      'recovering',
      'recovering',
      'ok',
      'ok',
    ]);
    const deliveries = await deliveriesOf(rule.id);
    expect(deliveries.map((d) => [d.payload.notice, d.payload.previous_state, d.payload.state, d.status])).toEqual([
      ['firing', 'pending', 'firing', 'pending'],
      ['resolved', 'recovering', 'ok', 'pending'],
    ]);
    expect(deliveries[0]!.payload).toMatchObject({
      value: 20,
      threshold: 10,
      sample_n: 10,
      window_minutes: 1,
      feature: { id: feature.id },
    });
    expect((await eventsOf(rule.id)).map((e) => e.to_state)).toEqual(['pending', 'firing', 'recovering', 'ok']);
  });

  it('when the value moves around the threshold but stays over the resolve threshold, then nothing flaps: one message', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { threshold: 10, resolve_threshold: 5, for_min: 2, resolve_for_min: 2 });
    const errors = [2, 2, 0, 2, 0, 2, 0, 2, 0, 2]; // of 10: 20%, 20%, 0% … the zeros are clear, the rest breach
    const band = [2, 2, 1, 2, 1, 2, 1, 2, 1, 2]; // 10% then 20/10 %: within the band between resolve (5) and threshold
    for (const [k, e] of band.entries()) await minuteOfUsage(feature.id, t0, k, 10, e);
    for (let k = 1; k <= band.length; k++) await tick(t0, k);
    expect((await alertOf(rule.id)).state).toBe('firing');
    expect((await deliveriesOf(rule.id)).map((d) => d.payload.notice)).toEqual(['firing']);

    // Single clear minutes between breaches: recovering and back to firing, still without a message.
    const t1 = t0 + band.length * MINUTE;
    for (const [k, e] of errors.entries()) await minuteOfUsage(feature.id, t1, k, 10, e);
    for (let k = 1; k <= 8; k++) await tick(t1, k);
    expect((await deliveriesOf(rule.id)).map((d) => d.payload.notice)).toEqual(['firing']);
  });

  it('when too few requests arrive, then the no-data policy decides: keep leaves the state alone', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { for_min: 1, min_requests: 20, no_data: 'keep' });
    await minuteOfUsage(feature.id, t0, 0, 10, 10);
    await tick(t0, 1);
    expect((await alertOf(rule.id)).state).toBe('ok');
    const alerting = await errorRule(feature.id, { for_min: 1, min_requests: 20, no_data: 'alert' });
    await tick(t0, 2);
    expect((await alertOf(alerting.id)).state).toBe('firing');
  });

  it('when a silence covers the breach, then its notice is logged as silenced and exactly one message goes out when it ends', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { for_min: 1 });
    await db('silences').insert({
      feature_id: feature.id,
      starts_at: new Date(t0),
      ends_at: new Date(t0 + 3 * MINUTE),
      reason: 'deploy',
      created_by: 'test',
    });
    for (let k = 0; k < 6; k++) await minuteOfUsage(feature.id, t0, k, 10, 5);
    for (let k = 1; k <= 6; k++) await tick(t0, k);
    const deliveries = await deliveriesOf(rule.id);
    expect(deliveries.map((d) => [d.payload.notice, d.status])).toEqual([
      ['firing', 'silenced'],
      ['unsilenced', 'pending'],
    ]);
    expect(deliveries[1]!.created_at).toEqual(new Date(t0 + 3 * MINUTE));
  });

  it('when firing and not acknowledged, then the message repeats every repeat interval; acknowledged, it does not', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { for_min: 1, repeat_min: 5 });
    for (let k = 0; k < 16; k++) await minuteOfUsage(feature.id, t0, k, 10, 5);
    for (let k = 1; k <= 11; k++) await tick(t0, k);
    expect((await deliveriesOf(rule.id)).map((d) => d.payload.notice)).toEqual(['firing', 'repeat', 'repeat']);
    await db('alerts')
      .where({ rule_id: rule.id })
      .update({ acked_at: new Date(t0 + 11 * MINUTE), acked_by: 'a@example.com', ack_note: 'on it' });
    for (let k = 12; k <= 16; k++) await tick(t0, k);
    expect((await deliveriesOf(rule.id)).map((d) => d.payload.notice)).toEqual(['firing', 'repeat', 'repeat']);
  });

  it('when two instances run the same tick at once, then one evaluates it: one transition, one delivery', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { for_min: 1 });
    await minuteOfUsage(feature.id, t0, 0, 10, 5);
    // Ten ticks, each run by two instances at once: a run that takes the lock just after the other
    // finished must see what it committed (its snapshot begins after the lock), never redo the minute.
    for (let k = 1; k <= 10; k++) {
      const now = new Date(t0 + k * MINUTE + 5000);
      const results = await Promise.all([run({ db, now }), run({ db, now })]);
      expect(results.map((r) => r.minutes).sort()).toEqual([0, 1]);
    }
    expect(await eventsOf(rule.id)).toHaveLength(1);
    expect(await deliveriesOf(rule.id)).toHaveLength(1);
  });

  it('when ticks were missed, then the minutes in between are each evaluated as of their own time', async () => {
    const t0 = dayStart();
    const feature = await makeFeature(db);
    const rule = await errorRule(feature.id, { for_min: 3 });
    for (let k = 0; k < 3; k++) await minuteOfUsage(feature.id, t0, k, 10, 5);
    await tick(t0, 0);
    const r = await tick(t0, 4);
    expect(r.minutes).toBe(4);
    expect((await eventsOf(rule.id)).map((e) => [e.to_state, e.at.getTime()])).toEqual([
      ['pending', t0 + MINUTE],
      ['firing', t0 + 3 * MINUTE],
    ]);
  });

  it('when the provider serving a feature failed its probe, then a provider health rule fires on its capped score', async () => {
    const t0 = dayStart();
    const provider = await makeProvider(db, { status: 'active' });
    const served = await makeFeature(db);
    await makeAssignment(db, {
      feature_id: served.id,
      model_id: (await makeModel(db, { provider_id: provider.id })).id,
      environment: 'production',
    });
    const idle = await makeFeature(db);
    const rules = await db('alert_rules')
      .insert(
        [served, idle].map((f) => ({
          feature_id: f.id,
          environment: 'production' as const,
          kind: 'provider_health' as const,
          threshold: 60,
          resolve_threshold: 70,
          for_min: 1,
          created_by: 'test',
        })),
      )
      .returning('id');
    await db('health_checks').insert({
      provider_id: provider.id,
      kind: 'probe',
      status: 'error',
      error: 'down',
      checked_at: new Date(t0 - MINUTE),
    });
    await tick(t0, 0);
    const alert = await alertOf(rules[0]!.id);
    expect([alert.state, alert.last_value]).toEqual(['firing', 50]);
    // No provider serves the other feature: no data, kept as it is.
    expect((await alertOf(rules[1]!.id)).state).toBe('ok');
  });

  it('when a feature has thresholds and a budget, then its default rules follow them', async () => {
    const feature = await makeFeature(db, { error_rate_threshold: 7, latency_threshold_ms: 1500, monthly_budget_usd: 100 });
    await tick(dayStart(), 0);
    const rules = await db('alert_rules').where({ feature_id: feature.id, is_default: true }).orderBy('kind');
    expect(rules.map((r) => [r.kind, r.threshold, r.environment])).toEqual([
      ['error_rate', 7, 'production'],
      ['p95_latency', 1500, 'production'],
      ['spend_month', 100, 'production'],
    ]);
    await db('ai_features').where({ id: feature.id }).update({ error_rate_threshold: 3, monthly_budget_usd: null });
    await tick(dayStart(), 0);
    const after = await db('alert_rules').where({ feature_id: feature.id, is_default: true }).orderBy('kind');
    expect(after.map((r) => [r.kind, r.threshold])).toEqual([
      ['error_rate', 3],
      ['p95_latency', 1500],
    ]);
  });
});
