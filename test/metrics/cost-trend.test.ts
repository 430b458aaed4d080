import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import type { FeatureRow } from '../../src/db/queries/features.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, insertUsage, type ModelRef, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';
import { between, RANGE_MS, RANGES, type Range, rawRows } from './brute-force.ts';

const NOW = Date.parse('2026-11-20T12:34:56.789Z');

/**
 * cost_trend from SPEC §4, by brute force over the feature's raw rows: null when the earlier range
 * (the same length, just before) cost nothing or when the first event is later than its start.
 */
async function bruteCostTrend(db: Db, featureId: string, range: Range): Promise<number | null> {
  const rows = await rawRows(db, 'feature_id', featureId);
  const R = RANGE_MS[range];
  const from = NOW - R;
  const earlierStart = from - R;
  const cost = (lo: number, hi: number) => between(rows, lo, hi).reduce((a, r) => a + r.cost, 0) / 1e8;
  const current = cost(from, NOW);
  const previous = cost(earlierStart, from - 1);
  const first = Math.min(...rows.map((r) => r.t));
  return previous > 0 && first <= earlierStart ? ((current - previous) / previous) * 100 : null;
}

/** Events at these ages, in units of the range (1 = the current range's start, 2 = the earlier range's start). */
const SCENARIOS = {
  'events only in the current range': { ages: [0.9, 0.5, 0.1], trend: 'null' },
  'events starting mid-way through the earlier range': { ages: [1.5, 1.2, 0.5, 0.1], trend: 'null' },
  'the first event a millisecond after the earlier range starts': { ages: [2, 1.5, 0.5], trend: 'null', shift: 1 },
  'the first event exactly when the earlier range starts': { ages: [2, 1.5, 0.5], trend: 'number' },
  'events from before the earlier range': { ages: [2.5, 1.5, 1.2, 0.5], trend: 'number' },
  'events from before, but no cost in the earlier range': { ages: [2.5, 1.5, 0.5], trend: 'null', freeEarlier: true },
} as const;

type Scenario = { ages: readonly number[]; trend: 'null' | 'number'; shift?: number; freeEarlier?: boolean };

async function arrange(db: Db, model: ModelRef) {
  const features: { range: Range; name: string; scenario: Scenario; feature: FeatureRow }[] = [];
  for (const range of RANGES) {
    for (const [name, scenario] of Object.entries(SCENARIOS) as [string, Scenario][]) {
      const feature = await makeFeature(db);
      const R = RANGE_MS[range];
      await insertUsage(
        db,
        scenario.ages.map((age, i) => {
          const earlier = age > 1 && age <= 2;
          return {
            feature_id: feature.id,
            model,
            input_tokens: 1000 * (i + 1),
            output_tokens: 300,
            ...(earlier && scenario.freeEarlier ? { input_cost_units: 0, output_cost_units: 0 } : {}),
            created_at: new Date(NOW - age * R + (i === 0 ? (scenario.shift ?? 0) : 0)),
          };
        }),
      );
      features.push({ range, name, scenario, feature });
    }
  }
  return features;
}

async function check(db: Db, features: Awaited<ReturnType<typeof arrange>>) {
  const problems: string[] = [];
  for (const { range, name, scenario, feature } of features) {
    const expected = await bruteCostTrend(db, feature.id, range);
    if ((expected === null ? 'null' : 'number') !== scenario.trend) problems.push(`${range} ${name}: brute force gave ${expected}`);
    const actual = (await featureMetrics(db, feature, range, new Date(NOW), 'UTC')).costs.cost_trend;
    const same = actual === expected || (actual !== null && expected !== null && Math.abs(actual - expected) <= 1e-9 * Math.abs(expected));
    if (!same) problems.push(`${range} ${name}: expected ${expected}, got ${actual}`);
  }
  return problems;
}

describe('cost_trend against brute force over raw rows', () => {
  it('when the feature was not recorded through the whole earlier range, then null ("no earlier period to compare"), read raw and rolled up', async () => {
    await withUsageDatabase(async (db) => {
      const model = (await modelsByName(db)).get('gpt-4o-mini')!;
      const features = await arrange(db, model);
      expect(await check(db, features)).toEqual([]);
      await runRollup({ db });
      expect(await check(db, features)).toEqual([]);

      // Raw rows past retention are dropped while their rollups stay: an old feature keeps its trend.
      const old = features.find((f) => f.range === '30d' && f.name === 'events from before the earlier range')!;
      const trend = (await featureMetrics(db, old.feature, '30d', new Date(NOW), 'UTC')).costs.cost_trend;
      expect(trend).not.toBeNull();
      const dropped = await db('ai_usage_logs')
        .where({ feature_id: old.feature.id })
        .andWhere('created_at', '<', new Date(NOW - 61 * DAY))
        .del();
      expect(dropped).toBe(1);
      expect((await featureMetrics(db, old.feature, '30d', new Date(NOW), 'UTC')).costs.cost_trend).toBe(trend);
    });
  }, 120_000);
});
