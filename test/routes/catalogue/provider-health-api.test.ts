import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../../src/db/knex.ts';
import { runRollup } from '../../../src/metrics/rollup.ts';
import { wilsonBad } from '../../metrics/brute-force.ts';
import { apiKey, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import type { HealthCheckRecord, ProviderRecord } from '../../setup/rows.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelRef, mulberry32, type UsageEvent } from '../../setup/usage-factory.ts';
import { type Catalogue, openCatalogue } from './setup.ts';

// A provider's health score in GET /api/platform/ai-management/providers?include_metrics=true
// (SPEC §4: 0.5 × success rate + 0.3 × uptime + 0.2 × latency score over 24 h, capped at 50 after a
// failed probe or connection test in the last 15 minutes), checked against a brute force over the raw rows.

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('provider_health');
});
afterAll(() => c?.close());

/** The range's minute slots: [now − 24 h, now] touches 1441 of them (both ends partial). */
const SLOTS = 1441;
/** Edge minutes: exactly 5 % errors is a bad minute; 1 error in 21 requests (4.76 %) is a good one. */
const EDGES = [300, 600, 900];

/** 444 events in the 24 h window (edge minutes and 400 spread over 23 hours), 10 outside it; 30 failures of `other`. */
function seededTraffic(featureId: string, own: ModelRef, other: ModelRef, now: number): UsageEvent[] {
  const minuteStart = (minutesAgo: number) => Math.floor((now - minutesAgo * MINUTE) / MINUTE) * MINUTE;
  const ev = (at: number, status: UsageEvent['status'], ms: number, model = own): UsageEvent => ({
    feature_id: featureId,
    model,
    status,
    response_time_ms: ms,
    created_at: new Date(at),
  });
  const events: UsageEvent[] = [];
  for (let i = 0; i < 20; i++) events.push(ev(minuteStart(300) + 1000 + i * 100, i === 0 ? 'error' : 'success', 900));
  for (let i = 0; i < 21; i++) events.push(ev(minuteStart(600) + 1000 + i * 100, i === 0 ? 'timeout' : 'success', 1100));
  for (let i = 0; i < 3; i++) events.push(ev(minuteStart(900) + 1000 + i * 100, 'error', 4800));
  // Spread traffic: 400 events over the last 23 hours, 7 % failures, latencies 50–6000 ms.
  const rng = mulberry32(20261206);
  const edges = new Set(EDGES);
  for (let i = 0; i < 400; i++) {
    let minutesAgo: number;
    do minutesAgo = 3 + Math.floor(rng() * 1380);
    while (edges.has(minutesAgo) || edges.has(minutesAgo - 1) || edges.has(minutesAgo + 1));
    const r = rng();
    const status = r < 0.05 ? 'error' : r < 0.07 ? 'timeout' : 'success';
    events.push(ev(minuteStart(minutesAgo) + Math.floor(rng() * 50_000), status, 50 + Math.floor(rng() * 5950)));
  }
  // Outside the 24 h window, and another provider's traffic: neither may count.
  for (let i = 0; i < 10; i++) events.push(ev(now - DAY - 30 * MINUTE - i * MINUTE, 'error', 9000));
  for (let i = 0; i < 30; i++) events.push(ev(now - (10 + i) * MINUTE, 'error', 9000, other));
  return events;
}

/** SPEC §4 from the raw rows alone, over the window [now − 24 h + 5 min, now] the traffic was placed in. */
async function bruteForce(db: Db, providerId: string, now: number) {
  const { rows } = await db.raw('SELECT created_at, status, response_time_ms FROM ai_usage_logs WHERE provider_id = ?', [providerId]);
  const all = rows as { created_at: Date; status: string; response_time_ms: number }[];
  const inWindow = all.filter((r) => r.created_at.getTime() >= now - DAY + 5 * MINUTE && r.created_at.getTime() <= now);
  const successRate = (inWindow.filter((r) => r.status === 'success').length / inWindow.length) * 100;
  const meanMs = inWindow.reduce((a, r) => a + r.response_time_ms, 0) / inWindow.length;
  const perMinute = new Map<number, { n: number; failed: number }>();
  for (const r of inWindow) {
    const m = Math.floor(r.created_at.getTime() / MINUTE);
    const slot = perMinute.get(m) ?? { n: 0, failed: 0 };
    slot.n += 1;
    if (r.status !== 'success') slot.failed += 1;
    perMinute.set(m, slot);
  }
  const bad = [...perMinute.values()].filter((s) => wilsonBad(s.n, s.failed, 5)).length; // SPEC §4: Wilson lower bound ≥ 5 %
  const uptime = ((SLOTS - bad) / SLOTS) * 100;
  const latencyScore = Math.min(100, Math.max(0, ((5000 - meanMs) / 4500) * 100));
  const health = 0.5 * successRate + 0.3 * uptime + 0.2 * latencyScore;
  return { rows: all.length, inWindow: inWindow.length, perMinute, successRate, meanMs, uptime, latencyScore, health };
}

describe('GET /api/platform/ai-management/providers?include_metrics=true health_score (SPEC §4)', () => {
  let provider: ProviderRecord;
  let other: ProviderRecord;
  let now: number;
  const healthOf = async (p: ProviderRecord, token = c.readToken) => {
    const res = await c.api('get', '/providers?include_metrics=true', undefined, token).expect(200);
    return res.body.data.find((x: { id: string }) => x.id === p.id);
  };
  const check = (msAgo: number, status: HealthCheckRecord['status'], kind: HealthCheckRecord['kind'] = 'probe') =>
    c.db('health_checks').insert({
      provider_id: provider.id,
      kind,
      status,
      latency_ms: 5,
      error: status === 'error' ? 'the provider answered 503' : null,
      checked_at: new Date(Date.now() - msAgo),
    });

  beforeAll(async () => {
    provider = await makeProvider(c.db, { status: 'active', key: apiKey() });
    other = await makeProvider(c.db, { status: 'active', key: apiKey() });
    const [model, otherModel] = [await makeModel(c.db, { provider_id: provider.id }), await makeModel(c.db, { provider_id: other.id })];
    const feature = await makeFeature(c.db);
    now = Date.now();
    await insertUsage(c.db, seededTraffic(feature.id, modelRef(model, provider), modelRef(otherModel, other), now));
  });

  it('when a provider has seeded traffic, then health = 0.5 × success + 0.3 × uptime + 0.2 × latency score by brute force from the raw rows, before and after the rollup', async () => {
    const b = await bruteForce(c.db, provider.id, now);
    expect(b.inWindow).toBe(444);
    expect(b.rows).toBe(454);
    const minuteOf = (minutesAgo: number) => Math.floor((now - minutesAgo * MINUTE) / MINUTE);
    expect(b.perMinute.get(minuteOf(300))).toEqual({ n: 20, failed: 1 });
    expect(b.perMinute.get(minuteOf(600))).toEqual({ n: 21, failed: 1 });
    expect(b.health).toBeGreaterThan(55); // so that the cap is visible
    expect(b.latencyScore).toBeGreaterThan(0);
    expect(b.latencyScore).toBeLessThan(100);
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await runRollup({ db: c.db });
      const p = await healthOf(provider);
      expect(p.total_requests, stage).toBe(444);
      expect(p.success_rate, stage).toBeCloseTo(b.successRate, 9);
      expect(p.response_time, stage).toBeCloseTo(b.meanMs, 9);
      expect(p.uptime, stage).toBeCloseTo(b.uptime, 9);
      expect(p.health_score, stage).toBeCloseTo(b.health, 9);
    }
  });

  it('when a probe failed within 15 minutes, then the score is capped at 50; one that failed 20 minutes ago does not cap it', async () => {
    const { health } = await bruteForce(c.db, provider.id, now);
    await check(20 * MINUTE, 'error');
    await check(MINUTE, 'ok');
    expect((await healthOf(provider)).health_score).toBeCloseTo(health, 9);
    await check(14 * MINUTE, 'error');
    expect((await healthOf(provider)).health_score).toBe(50);
  });

  it('when a provider whose traffic all failed (a score below 50) failed a probe too, then the cap does not raise its score', async () => {
    await c.db('health_checks').insert({ provider_id: other.id, kind: 'probe', status: 'error', latency_ms: 5, error: 'down' });
    const o = await healthOf(other, c.adminToken.token);
    expect(o.success_rate).toBe(0);
    expect(o.health_score).toBeCloseTo(0.3 * ((SLOTS - 30) / SLOTS) * 100, 9);
  });

  it('when a provider has no traffic in the last 24 h, then its health score is null (no data), not 0 or 100', async () => {
    const p = await makeProvider(c.db);
    const res = await c.api('get', '/providers?include_metrics=true').expect(200);
    expect(res.body.data.find((x: { id: string }) => x.id === p.id)).toMatchObject({
      health_score: null,
      success_rate: null,
      uptime: null,
      total_requests: 0,
    });
  });
});
