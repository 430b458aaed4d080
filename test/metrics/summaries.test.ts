import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { EXACT_PERCENTILES_UP_TO } from '../../src/metrics/definitions.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { percentileFromHistogram } from '../../src/metrics/histogram.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { featureSummaries, modelSummaries, providerSummaries } from '../../src/metrics/summaries.ts';
import { makeFeature } from '../setup/factories.ts';
import type { HealthCheckRecord } from '../setup/rows.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';
import { between, percentileCont, rawRows, withinOneBucket } from './brute-force.ts';

const NOW = new Date('2026-11-20T12:00:00.000Z');
const Q = [0.5, 0.95, 0.99];

/** n events spread over the last 24 h with latencies from a SQL expression of i (deterministic, dense). */
async function bulkInsert(db: Db, featureId: string, model: ModelRef, n: number, latency: string, tag: string) {
  await db.raw(
    `WITH g AS (SELECT i, :now::timestamptz - ((i::bigint * 104729) % 86400000) * interval '1 millisecond' AS t, (${latency})::int AS ms
                FROM generate_series(1, :n) AS i),
     k AS (INSERT INTO ai_usage_event_keys (event_id, created_at) SELECT :tag || i, t FROM g)
     INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, status, response_time_ms, cost_usd, input_cost_usd, created_at)
     SELECT :tag || i, :feature, :model, :provider, 'production', CASE WHEN i % 40 = 0 THEN 'error' ELSE 'success' END, ms, 0.001, 0.0004, t FROM g`,
    { now: NOW.toISOString(), n, tag, feature: featureId, model: model.id, provider: model.provider_id },
  );
}

const exact = (values: number[]) => Q.map((q) => percentileCont(values, q)!);

function expectWithinOneBucket(estimates: (number | null)[], exactValues: number[], label: string) {
  estimates.forEach((e, i) =>
    expect(e !== null && withinOneBucket(e, exactValues[i]), `${label} p${Q[i]}: ${e} vs exact ${exactValues[i]}`).toBe(true),
  );
}

describe('percentiles: exact up to 20,000 events in the range, from the histogram beyond', () => {
  it('when a range holds exactly 20,000 events, then p50/p95/p99 are exact; at 20,001 they come from the histogram within one bucket', async () => {
    await withUsageDatabase(async (db) => {
      expect(EXACT_PERCENTILES_UP_TO).toBe(20_000);
      const models = await modelsByName(db);
      const mini = models.get('gpt-4o-mini')!;
      const f = await makeFeature(db);
      await bulkInsert(db, f.id, mini, 20_000, '20 + (i * 7919) % 4000', 'u-');
      const feature = (await db('ai_features').where({ id: f.id }).first())!;
      const window = () => rawRows(db, 'feature_id', f.id).then((rows) => between(rows, NOW.getTime() - DAY, NOW.getTime()));

      let rows = await window();
      expect(rows).toHaveLength(20_000);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const m = await featureMetrics(db, feature, '24h', NOW, 'UTC');
        const e = exact(rows.map((r) => r.ms));
        [m.realtime.p50, m.realtime.p95, m.realtime.p99].forEach((p, i) => expect(p, `${stage} p${Q[i]}`).toBeCloseTo(e[i], 9));
        // Summaries follow the same rule, so a feature's card and its dashboard agree.
        const s = (await featureSummaries(db, [feature], '24h', NOW)).get(f.id)!;
        [s.p50, s.p95, s.p99].forEach((p, i) => expect(p, `${stage} featureSummaries p${Q[i]}`).toBeCloseTo(e[i], 9));
      }

      await insertUsage(db, [{ feature_id: f.id, model: mini, response_time_ms: 777, created_at: new Date(NOW.getTime() - MINUTE) }]);
      rows = await window();
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const m = await featureMetrics(db, feature, '24h', NOW, 'UTC');
        expect(m.usage.total_requests).toBe(20_001);
        expectWithinOneBucket([m.realtime.p50, m.realtime.p95, m.realtime.p99], exact(rows.map((r) => r.ms)), `${stage} 20,001 events`);
        for (const point of m.historical.data) {
          const start = Math.floor(Date.parse(point.timestamp) / 3_600_000) * 3_600_000;
          const inBucket = rows.filter((r) => Math.floor(r.t / 3_600_000) * 3_600_000 === start).map((r) => r.ms);
          if (!inBucket.length) expect(point.p95).toBeNull();
          else
            expect(
              point.p95 !== null && withinOneBucket(point.p95, percentileCont(inBucket, 0.95)!),
              `${stage} point ${point.timestamp} p95`,
            ).toBe(true);
        }
      }
    });
  }, 60_000);

  it('when latencies span milliseconds to minutes over more than 20,000 events, then model summaries (histogram) stay within one bucket of the exact percentiles', async () => {
    await withUsageDatabase(async (db) => {
      const models = await modelsByName(db);
      const sonnet = models.get('claude-3-5-sonnet-20241022')!;
      const f = await makeFeature(db);
      await bulkInsert(db, f.id, sonnet, 25_000, 'floor(exp(3 + 9.5 * ((i * 7919) % 10007) / 10007.0))', 'l-');
      const rows = between(await rawRows(db, 'model_id', sonnet.id), NOW.getTime() - DAY, NOW.getTime());
      const e = exact(rows.map((r) => r.ms));
      expect(e[2]).toBeGreaterThan(100_000);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const s = (await modelSummaries(db, [sonnet.id], '24h', NOW)).get(sonnet.id)!;
        expect(s.total_requests).toBe(25_000);
        expectWithinOneBucket([s.p50, s.p95, s.p99], e, `${stage} model`);
      }
      expect(percentileFromHistogram(new Array(39).fill(0), 0.5)).toBeNull();
    });
  });
});

/**
 * Traffic and checks of four providers: OpenAI (90 % success, one bad minute, latency score 50, spend
 * this month and last), Anthropic (slow, a failed probe exactly 15 minutes ago), Google (fast, a failed
 * probe 1 ms too old to count), the simulator (no traffic, a failed probe now).
 */
async function trafficAndProbes(db: Db) {
  const models = await modelsByName(db);
  const [mini, sonnet, gemini, sim] = ['gpt-4o-mini', 'claude-3-5-sonnet-20241022', 'gemini-1.5-pro', 'sim-chat'].map(
    (n) => models.get(n)!,
  );
  const f = await makeFeature(db);
  const ev = (model: ModelRef, minutesAgo: number, status: 'success' | 'error', ms: number, dollars = 0.1) => ({
    feature_id: f.id,
    model,
    status,
    response_time_ms: ms,
    created_at: new Date(NOW.getTime() - minutesAgo * MINUTE),
    input_cost_units: 0,
    output_cost_units: Math.round(dollars * 1e8),
  });
  await insertUsage(db, [
    ...Array.from({ length: 10 }, (_, i) => ev(mini, 10 + i * 30, i === 3 ? 'error' : 'success', 2750)), // 90 %, 1 bad minute, latency score 50
    { ...ev(mini, 0, 'success', 100, 1.5), created_at: new Date('2026-11-01T00:00:00.000Z') }, // first instant of the month: in monthly spend only
    { ...ev(mini, 0, 'success', 100, 7), created_at: new Date('2026-10-31T23:59:59.999Z') }, // last month
    ...Array.from({ length: 4 }, (_, i) => ev(sonnet, 5 + i, 'success', 6000)), // latency score 0, never negative
    ...Array.from({ length: 2 }, (_, i) => ev(gemini, 5 + i, 'success', 300)), // latency score 100
  ]);
  const probe = (model: ModelRef, kind: HealthCheckRecord['kind'], status: HealthCheckRecord['status'], msAgo: number) => ({
    provider_id: model.provider_id,
    model_id: model.id,
    kind,
    status,
    checked_at: new Date(NOW.getTime() - msAgo),
  });
  await db('health_checks').insert([
    probe(sonnet, 'probe', 'error', 15 * MINUTE), // exactly 15 minutes ago: caps
    probe(gemini, 'probe', 'error', 15 * MINUTE + 1), // 1 ms too old: does not cap
    probe(mini, 'smoke', 'error', MINUTE), // not a probe
    probe(mini, 'probe', 'ok', MINUTE),
    probe(sim, 'probe', 'error', 0),
  ]);
  return { mini, sonnet, gemini, sim, probe };
}

describe('provider health and monthly spend', () => {
  it('when providers have traffic and probes, then health = 0.5 success + 0.3 uptime + 0.2 latency score, capped at 50 by a failed probe in the last 15 minutes', async () => {
    await withUsageDatabase(async (db) => {
      const { mini, sonnet, gemini, sim, probe } = await trafficAndProbes(db);
      const ids = [mini, sonnet, gemini, sim].map((m) => m.provider_id);
      const uptime = (1440 / 1441) * 100;
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const p = await providerSummaries(db, ids, NOW);
        const [openai, anthropic, google, simulator] = ids.map((id) => p.get(id)!);
        expect(openai.health_score, stage).toBeCloseTo(0.5 * 90 + 0.3 * uptime + 0.2 * 50, 9);
        expect(openai, stage).toMatchObject({ probe_failed_recently: false, total_requests: 10 });
        expect(openai.total_cost, stage).toBeCloseTo(1, 10);
        expect(openai.monthly_spend, stage).toBeCloseTo(2.5, 10);
        expect(anthropic, stage).toMatchObject({ health_score: 50, probe_failed_recently: true, success_rate: 100, uptime: 100 });
        expect(google, stage).toMatchObject({ health_score: 100, probe_failed_recently: false });
        // No traffic but a failed probe: the cap, not "no data".
        expect(simulator, stage).toMatchObject({
          health_score: 50,
          uptime: null,
          success_rate: null,
          probe_failed_recently: true,
          monthly_spend: 0,
          total_requests: 0,
        });
        await db('health_checks').where({ provider_id: sonnet.provider_id }).delete();
        expect((await providerSummaries(db, [sonnet.provider_id], NOW)).get(sonnet.provider_id)!.health_score, stage).toBe(80);
        await db('health_checks').insert(probe(sonnet, 'probe', 'error', 15 * MINUTE));
      }
    });
  });
});
