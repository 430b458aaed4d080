import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import type { Environment } from '../../src/domain.ts';
import { inSnapshot, READ_EVERY_FROM, sumsWithExactPercentiles } from '../../src/metrics/queries.ts';
import { type RangeName, type Window, windowOf } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, HOUR, insertUsage, MINUTE, modelsByName, type UsageEvent, withUsageDatabase } from '../setup/usage-factory.ts';

const COLUMNS = ['requests', 'successes', 'latency_sum_ms', 'cost_usd'] as const;
// Times of day on both sides of noon: the window's first day is read whole and its early part subtracted, or its part added.
const NOWS = ['2026-11-20T00:20:00.500Z', '2026-11-20T05:40:10.250Z', '2026-11-20T12:34:56.789Z', '2026-11-20T21:59:59.999Z'].map(
  (t) => new Date(t),
);

/** Brute force: each feature's figures and exact percentiles from raw rows in [from, to), in one environment (null: all). */
async function rawSums(db: Db, ids: string[], w: Window, environment: Environment | null) {
  const rows: { id: string; requests: string; successes: string; latency: string; cost: string; p: number[] }[] = await db('ai_usage_logs')
    .whereIn('feature_id', ids)
    .where('created_at', '>=', w.from)
    .where('created_at', '<', w.to)
    .modify((q) => (environment ? q.where({ environment }) : q))
    .groupBy('feature_id')
    .select({ id: 'feature_id' })
    .count({ requests: '*' })
    .select(
      db.raw(
        "count(*) FILTER (WHERE status = 'success') AS successes, sum(response_time_ms) AS latency, sum(cost_usd) AS cost, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS p",
      ),
    );
  return new Map(
    rows.map((r) => [r.id, { sums: [Number(r.requests), Number(r.successes), Number(r.latency), Number(r.cost)], exact: r.p.map(Number) }]),
  );
}

describe('sums and exact percentiles of a window ending now, the sums from day rollup rows (issue 19)', () => {
  it('when events lie around the window’s edges, around now and past the rollup’s cursor, then each feature’s requests, successes, latency, cost and percentiles are the raw rows’, at any time of day, alone or among many', async () => {
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
            const read = (members: string[], exactUpTo: number) =>
              inSnapshot(db, (s) => sumsWithExactPercentiles(s, 'feature', members, w, COLUMNS, exactUpTo), environment);
            const got = await read(ids, 1_000);
            const alone = await read([ids[1]], 1_000);
            const figures = (id: string, m: typeof got) => {
              const x = m.get(id);
              return {
                sums: x ? [x.sums.requests, x.sums.successes, x.sums.latency_sum_ms, x.sums.cost_usd] : [0, 0, 0, 0],
                exact: x?.exact ?? null,
              };
            };
            const at = `${now.toISOString()} ${range} ${environment}`;
            for (const id of ids) {
              const want = expected.get(id);
              expect(figures(id, got).sums, at).toEqual(want?.sums ?? [0, 0, 0, 0]);
              const exact = figures(id, got).exact;
              expect(exact === null ? null : exact.map((p) => p.toFixed(6)), at).toEqual(want?.exact.map((p) => p.toFixed(6)) ?? null);
            }
            expect(figures(ids[1], alone)).toEqual(figures(ids[1], got));
            expect(ids.reduce((n, id) => n + figures(id, got).sums[0], 0)).toBeGreaterThan(0);
            // Members over the bound get their sums and no exact percentiles.
            const bounded = await read(ids, 1);
            for (const id of ids) {
              const { sums, exact } = figures(id, bounded);
              expect(sums, at).toEqual(figures(id, got).sums);
              expect(exact === null, at).toBe(sums[0] !== 1);
            }
          }
    });
  }, 60_000);
});
