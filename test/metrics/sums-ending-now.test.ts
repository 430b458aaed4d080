import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import type { Environment } from '../../src/domain.ts';
import { inSnapshot, READ_EVERY_FROM, sumsEndingNow } from '../../src/metrics/queries.ts';
import { type RangeName, type Window, windowOf } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, HOUR, insertUsage, MINUTE, modelsByName, type UsageEvent, withUsageDatabase } from '../setup/usage-factory.ts';

const COLUMNS = ['requests', 'successes', 'latency_sum_ms', 'cost_usd'] as const;
// Times of day on both sides of noon: the window's first day is read whole and its early part subtracted, or its part added.
const NOWS = ['2026-11-20T00:20:00.500Z', '2026-11-20T05:40:10.250Z', '2026-11-20T12:34:56.789Z', '2026-11-20T21:59:59.999Z'].map(
  (t) => new Date(t),
);

/** Brute force: each feature's figures from raw rows in [from, to), in one environment (null: all). */
async function rawSums(db: Db, ids: string[], w: Window, environment: Environment | null) {
  const rows: { id: string; requests: string; successes: string; latency: string; cost: string }[] = await db('ai_usage_logs')
    .whereIn('feature_id', ids)
    .where('created_at', '>=', w.from)
    .where('created_at', '<', w.to)
    .modify((q) => (environment ? q.where({ environment }) : q))
    .groupBy('feature_id')
    .select({ id: 'feature_id' })
    .count({ requests: '*' })
    .select(db.raw("count(*) FILTER (WHERE status = 'success') AS successes, sum(response_time_ms) AS latency, sum(cost_usd) AS cost"));
  return new Map(rows.map((r) => [r.id, [Number(r.requests), Number(r.successes), Number(r.latency), Number(r.cost)]]));
}

describe('sums of a window ending now from day rollup rows (issue 19)', () => {
  it('when events lie around the window’s edges, around now and past the rollup’s cursor, then each feature’s requests, successes, latency and cost are the raw rows’, at any time of day, alone or among many', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const ids: string[] = [];
      for (let i = 0; i < READ_EVERY_FROM; i++) ids.push((await makeFeature(db)).id);
      const event = (k: number, at: number): UsageEvent => ({
        feature_id: ids[k % ids.length],
        model: mini,
        environment: k % 3 ? 'production' : 'staging',
        status: k % 4 ? 'success' : 'error',
        response_time_ms: 50 + 13 * k,
        input_cost_units: 1_000 + 7 * k,
        output_cost_units: 3 * k,
        created_at: new Date(at),
      });
      // Rolled up: the 24 h window's start and the instant before it, whole and partial hours and minutes, now, and after now.
      const rolled = [-25 * HOUR, -DAY, -DAY - 1, -DAY + 90_000, -23.5 * HOUR, -12 * HOUR, -3 * HOUR, -61_000, -1_000, 0, 1, 2 * HOUR, DAY];
      const pending = [-10_000, -5 * HOUR, -DAY + 30_000, MINUTE];
      const around = (offsets: number[]) => NOWS.flatMap((now, n) => offsets.map((o, i) => event(n * 7 + i, now.getTime() + o)));
      await insertUsage(db, [...around(rolled), ...around(rolled.map((o) => o - 7 * DAY + 3_000))]);
      await runRollup({ db });
      await insertUsage(db, around(pending));

      for (const now of NOWS)
        for (const range of ['1h', '24h', '7d'] as RangeName[])
          for (const environment of ['production', null] as const) {
            const w = windowOf(range, now);
            const expected = await rawSums(db, ids, w, environment);
            const got = await inSnapshot(db, (s) => sumsEndingNow(s, 'feature', ids, w, COLUMNS), environment);
            const alone = await inSnapshot(db, (s) => sumsEndingNow(s, 'feature', [ids[1]], w, COLUMNS), environment);
            const figures = (id: string, m: typeof got) => {
              const x = m.get(id);
              return x ? [x.requests, x.successes, x.latency_sum_ms, x.cost_usd] : [0, 0, 0, 0];
            };
            for (const id of ids)
              expect(figures(id, got), `${now.toISOString()} ${range} ${environment}`).toEqual(expected.get(id) ?? [0, 0, 0, 0]);
            expect(figures(ids[1], alone)).toEqual(figures(ids[1], got));
            expect(ids.reduce((n, id) => n + figures(id, got)[0], 0)).toBeGreaterThan(0);
          }
    });
  }, 60_000);
});
