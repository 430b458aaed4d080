import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, HOUR, insertUsage, MINUTE, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';
import { RANGES } from './brute-force.ts';

const NOW = new Date('2026-11-20T12:34:56.789Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const dollars = (d: number) => Math.round(d * 1e8);

/** Runs the checks on raw rows, then again once everything is rolled up: both must hold. */
async function rawThenRolledUp(db: Db, check: (stage: string) => Promise<void>) {
  await check('raw');
  await runRollup({ db });
  await check('rolled up');
}

async function setup(db: Db, threshold?: number) {
  const models = await modelsByName(db);
  const feature = await makeFeature(db, threshold === undefined ? {} : { error_rate_threshold: threshold });
  return { feature, mini: models.get('gpt-4o-mini')!, sonnet: models.get('claude-3-5-sonnet-20241022')! };
}

describe('metrics at the edges of ranges and buckets', () => {
  it('when a feature has no events in a range, then counts are 0, every rate is null and the chart has one empty point per bucket', async () => {
    await withUsageDatabase(async (db) => {
      const { feature } = await setup(db);
      const points = { '1h': 13, '24h': 25, '7d': 29, '30d': 31 };
      const seconds = {
        '1h': '2026-11-20T11:35:00.000Z',
        '24h': '2026-11-19T13:00:00.000Z',
        '7d': '2026-11-13T18:00:00.000Z',
        '30d': '2026-10-22T00:00:00.000Z',
      };
      for (const range of RANGES) {
        const m = await featureMetrics(db, feature, range, NOW, 'UTC');
        expect(m.realtime).toEqual({
          uptime: null,
          error_rate: null,
          response_time: null,
          requests_per_minute: 0,
          success_rate: null,
          cost_per_request: null,
          p50: null,
          p95: null,
          p99: null,
        });
        expect(m.usage).toEqual({
          total_requests: 0,
          unique_users: 0,
          unique_users_approximate: false,
          peak_usage_hour: null,
          avg_requests_per_user: null,
        });
        expect(m.costs).toEqual({
          total_cost: 0,
          previous_cost: 0,
          cost_trend: null,
          cost_per_request_trend: null,
          cost_breakdown: [],
          cost_by_direction: [
            { category: 'input', amount: 0, percentage: null },
            { category: 'output', amount: 0, percentage: null },
          ],
        });
        expect(m.performance).toBeNull();
        expect(m.historical.data).toHaveLength(points[range]);
        expect(m.historical.data[0].timestamp).toBe(
          new Date(NOW.getTime() - { '1h': HOUR, '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY }[range]).toISOString(),
        );
        expect(m.historical.data[1].timestamp).toBe(seconds[range]);
        for (const p of m.historical.data)
          expect(p).toMatchObject({ requests: 0, throughput: 0, cost: 0, response_time: null, p95: null, error_rate: null });
      }
    });
  });

  it('when events sit exactly at the range start, at now, on a bucket edge and 1 ms outside, then only those inside count, each in its own bucket', async () => {
    await withUsageDatabase(async (db) => {
      const { feature, mini } = await setup(db);
      const times = [ago(DAY), ago(DAY + 1), NOW, new Date('2026-11-20T12:00:00.000Z'), new Date('2026-11-20T11:59:59.999Z')];
      await insertUsage(
        db,
        times.map((created_at) => ({ feature_id: feature.id, model: mini, created_at })),
      );
      await rawThenRolledUp(db, async (stage) => {
        const m = await featureMetrics(db, feature, '24h', NOW, 'UTC');
        expect(m.usage.total_requests, stage).toBe(4);
        const data = m.historical.data;
        expect(data[0], stage).toMatchObject({ timestamp: ago(DAY).toISOString(), requests: 1 });
        expect(data.at(-2), stage).toMatchObject({ timestamp: '2026-11-20T11:00:00.000Z', requests: 1 });
        expect(data.at(-1), stage).toMatchObject({ timestamp: '2026-11-20T12:00:00.000Z', requests: 2 });
        expect(
          data.reduce((a, p) => a + p.requests, 0),
          stage,
        ).toBe(4);
        const hour = await featureMetrics(db, feature, '1h', NOW, 'UTC');
        expect(hour.usage.total_requests, stage).toBe(3);
        expect(hour.historical.data.at(-1), stage).toMatchObject({ timestamp: '2026-11-20T12:30:00.000Z', requests: 1 });
        expect(hour.historical.data.find((p) => p.timestamp === '2026-11-20T12:00:00.000Z')?.requests, stage).toBe(1);
        expect(hour.historical.data.find((p) => p.timestamp === '2026-11-20T11:55:00.000Z')?.requests, stage).toBe(1);
      });
    });
  });

  it('when costs fall in this range and the one before, then trend, breakdown by model and by direction use the real amounts', async () => {
    await withUsageDatabase(async (db) => {
      const { feature, mini, sonnet } = await setup(db);
      const spend = (created_at: Date, model = mini, input = 0, output = 0) => ({
        feature_id: feature.id,
        model,
        created_at,
        input_cost_units: dollars(input),
        output_cost_units: dollars(output),
      });
      await insertUsage(db, [
        spend(ago(2 * DAY + 1), mini, 5, 0), // before the previous range: ignored
        spend(ago(2 * DAY), mini, 0.25, 0.75), // first instant of the previous range
        spend(ago(DAY + 1), mini, 0.25, 0.75), // last millisecond of the previous range
        spend(ago(DAY), sonnet, 0.5, 1.75), // first instant of this range
        spend(ago(HOUR), mini, 0.25, 0.5),
        spend(NOW, mini, 0, 0),
      ]);
      await rawThenRolledUp(db, async (stage) => {
        const c = (await featureMetrics(db, feature, '24h', NOW, 'UTC')).costs;
        expect(c.total_cost, stage).toBeCloseTo(3, 10);
        expect(c.previous_cost, stage).toBeCloseTo(2, 10);
        expect(c.cost_trend, stage).toBeCloseTo(50, 9);
        expect(
          c.cost_breakdown.map((b) => [b.category, b.amount, b.requests]),
          stage,
        ).toEqual([
          ['Claude 3.5 Sonnet', 2.25, 1],
          ['GPT-4o mini', 0.75, 2],
        ]);
        expect(c.cost_breakdown[0].percentage, stage).toBeCloseTo(75, 9);
        expect(c.cost_breakdown[1].percentage, stage).toBeCloseTo(25, 9);
        expect(
          c.cost_by_direction.map((d) => d.category),
          stage,
        ).toEqual(['input', 'output']);
        expect(c.cost_by_direction[0].amount, stage).toBeCloseTo(0.75, 10);
        expect(c.cost_by_direction[1].amount, stage).toBeCloseTo(2.25, 10);
        expect(c.cost_by_direction[0].percentage! + c.cost_by_direction[1].percentage!, stage).toBeCloseTo(100, 9);
        const hour = (await featureMetrics(db, feature, '1h', NOW, 'UTC')).costs;
        expect(hour.previous_cost, stage).toBe(0);
        expect(hour.cost_trend, stage).toBeNull(); // nothing spent in the hour before: no trend, not 0 or infinity
      });
      const quiet = await makeFeature(db);
      await insertUsage(db, [
        // Recorded from the earlier range's start (SPEC §4: a later first event gives no trend at all).
        { feature_id: quiet.id, model: mini, created_at: ago(2 * DAY), input_cost_units: dollars(1), output_cost_units: 0 },
      ]);
      expect((await featureMetrics(db, quiet, '24h', NOW, 'UTC')).costs.cost_trend).toBe(-100);
    });
  });

  it('when every request fails and costs nothing, then success is 0%, errors 100% and cost shares are null, never hidden', async () => {
    await withUsageDatabase(async (db) => {
      const { feature, mini } = await setup(db);
      await insertUsage(db, [
        { feature_id: feature.id, model: mini, status: 'error', created_at: ago(10 * MINUTE), input_cost_units: 0, output_cost_units: 0 },
        {
          feature_id: feature.id,
          model: mini,
          status: 'timeout',
          created_at: ago(10 * MINUTE + 1000),
          input_cost_units: 0,
          output_cost_units: 0,
        },
        { feature_id: feature.id, model: mini, status: 'error', created_at: ago(40 * MINUTE), input_cost_units: 0, output_cost_units: 0 },
      ]);
      await rawThenRolledUp(db, async (stage) => {
        const m = await featureMetrics(db, feature, '1h', NOW, 'UTC');
        expect(m.realtime, stage).toMatchObject({ success_rate: 0, error_rate: 100, cost_per_request: 0 });
        expect(m.realtime.uptime, stage).toBeCloseTo((59 / 61) * 100, 9); // 61 minute slots, 2 bad
        expect(m.costs.cost_breakdown, stage).toEqual([
          { category: 'GPT-4o mini', model_id: mini.id, amount: 0, requests: 3, percentage: null },
        ]);
        expect(
          m.costs.cost_by_direction.map((d) => d.percentage),
          stage,
        ).toEqual([null, null]);
        expect(m.performance?.accuracy, stage).toBe(0);
        expect(
          m.historical.data.filter((p) => p.requests > 0).map((p) => p.error_rate),
          stage,
        ).toEqual([100, 100]);
      });
    });
  });

  it('when a few latencies are known, then mean and p50/p95/p99 are exact (linear interpolation) and requests per minute divide by the range', async () => {
    await withUsageDatabase(async (db) => {
      const { feature, mini } = await setup(db);
      await insertUsage(
        db,
        [100, 200, 300, 400, 0, 1000].map((ms, i) => ({
          feature_id: feature.id,
          model: mini,
          response_time_ms: ms,
          created_at: ago(i * 7 * MINUTE),
        })),
      );
      await rawThenRolledUp(db, async (stage) => {
        const m = await featureMetrics(db, feature, '1h', NOW, 'UTC');
        expect(m.realtime.response_time, stage).toBeCloseTo(2000 / 6, 9);
        expect(m.realtime.p50, stage).toBeCloseTo(250, 9);
        expect(m.realtime.p95, stage).toBeCloseTo(850, 9);
        expect(m.realtime.p99, stage).toBeCloseTo(970, 9);
        expect(m.realtime.requests_per_minute, stage).toBeCloseTo(0.1, 12);
        const perMinute = await Promise.all(
          RANGES.map(async (r) => (await featureMetrics(db, feature, r, NOW, 'UTC')).realtime.requests_per_minute),
        );
        expect(perMinute, stage).toEqual([6 / 60, 6 / 1440, 6 / 10080, 6 / 43200]);
      });
    });
  });
});
