import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import type { Environment } from '../../src/domain.ts';
import { EXACT_PERCENTILES_UP_TO, headline } from '../../src/metrics/definitions.ts';
import { fewRequestFigures } from '../../src/metrics/few-requests.ts';
import { inSnapshot, READ_EVERY_FROM, sumsWithExactPercentiles, toSums } from '../../src/metrics/queries.ts';
import { type RangeName, type Window, windowOf } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { headlines } from '../../src/metrics/summaries.ts';
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

/** READ_EVERY_FROM features with events around each of NOWS' windows' edges, rolled up or past the cursor. */
async function seedAroundNows(db: Db): Promise<string[]> {
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

  return ids;
}

describe('sums and exact percentiles of a window ending now, the sums from day rollup rows (issue 19)', () => {
  it('when events lie around the window’s edges, around now and past the rollup’s cursor, then each feature’s requests, successes, latency, cost and percentiles are the raw rows’, at any time of day, alone or among many', async () => {
    await withUsageDatabase(async (db) => {
      const ids = await seedAroundNows(db);
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

/**
 * Brute force of fewRequestFigures' bound: a member's rolled-up rows over the UTC days the window touches, and its rows
 * past the cursor in it.
 */
async function boundOf(db: Db, ids: string[], w: Window, environment: Environment | null, cursor: number) {
  const dayFrom = new Date(Math.floor(w.from.getTime() / DAY) * DAY);
  const dayTo = new Date(Math.ceil(w.to.getTime() / DAY) * DAY);
  const { rows } = await db.raw(
    `SELECT feature_id AS id, count(*) FILTER (WHERE id <= :cursor AND created_at >= :day_from AND created_at < :day_to) AS rolled,
            count(*) FILTER (WHERE id > :cursor AND created_at >= :from AND created_at < :to) AS pending
     FROM ai_usage_logs WHERE feature_id = ANY(:ids) AND (:environment::text IS NULL OR environment = :environment) GROUP BY 1`,
    { cursor, day_from: dayFrom, day_to: dayTo, from: w.from, to: w.to, ids, environment },
  );
  return new Map(
    (rows as { id: string; rolled: string; pending: string }[]).map((r) => [
      r.id,
      { rolled: Number(r.rolled), pending: Number(r.pending) },
    ]),
  );
}

describe('headline figures of many members, those with few requests from raw rows (issue 19)', () => {
  it('when many features are read, then those whose day rows and unfolded rows hold at most the bound get the raw rows’ sums and percentiles, the others are left out, the quiet features’ headlines are their raw rows’ and the busy one’s is the one it has when read alone', async () => {
    await withUsageDatabase(async (db) => {
      // A busy feature, over the exact-percentile bound in every window: its figures come from the rollups and its histogram.
      const busy = (await makeFeature(db)).id;
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      await insertUsage(
        db,
        Array.from({ length: EXACT_PERCENTILES_UP_TO + 1 }, (_x, i) => ({
          feature_id: busy,
          model: mini,
          status: i % 9 ? ('success' as const) : ('error' as const),
          response_time_ms: 100 + (i % 1_700),
          created_at: new Date(NOWS[1].getTime() - 30 * MINUTE - (i % 1_000) * 1_000),
        })),
      );
      // Folded with the other features' events, before their rows past the cursor come.
      const ids = await seedAroundNows(db);
      const members = [...ids, busy];
      const now = NOWS[1];
      for (const range of ['1h', '24h', '7d'] as RangeName[])
        for (const environment of ['production', null] as const) {
          const w = windowOf(range, now);
          const at = `${range} ${environment}`;
          const expected = await rawSums(db, members, w, environment);
          await inSnapshot(
            db,
            async (s) => {
              const bound = await boundOf(db, members, w, environment, s.cursor);
              const n = (id: string) => (bound.get(id)?.rolled ?? 0) + (bound.get(id)?.pending ?? 0);
              // Bounds a member's rolled-up rows alone would meet, but not with its rows past the cursor.
              const edges = [...bound.values()].filter((b) => b.pending > 0).map((b) => b.rolled);
              expect(edges.length, at).toBeGreaterThan(0);
              for (const upTo of [1_000, 1, ...new Set(edges)]) {
                const got = await fewRequestFigures(s, 'feature', members, w, COLUMNS, upTo);
                const want = members.filter((id) => n(id) <= upTo);
                expect([...got.keys()].sort(), `${at} ≤ ${upTo}`).toEqual(want.sort());
                for (const id of want) {
                  const { sums, exact } = got.get(id)!;
                  expect([sums.requests, sums.successes, sums.latency_sum_ms, sums.cost_usd], at).toEqual(
                    expected.get(id)?.sums ?? [0, 0, 0, 0],
                  );
                  expect(exact?.map((p) => p.toFixed(6)) ?? null, at).toEqual(expected.get(id)?.exact.map((p) => p.toFixed(6)) ?? null);
                }
              }
              expect(n(busy)).toBeGreaterThan(EXACT_PERCENTILES_UP_TO);
              // The quiet features' headlines are their raw rows' (some have events after now, which a read of one alone,
              // trusting that ingestion refuses them, would count); the busy one's is what it has read alone.
              const many = await headlines(s, 'feature', members, w);
              for (const id of ids) {
                const raw = expected.get(id);
                const [requests, successes, latency_sum_ms, cost_usd] = raw?.sums ?? [0, 0, 0, 0];
                const figures = headline({ ...toSums(undefined), requests, successes, latency_sum_ms, cost_usd });
                const exact = raw && { p50: raw.exact[0], p95: raw.exact[1], p99: raw.exact[2] };
                expect(many.get(id), `${at} ${id}`).toEqual({ ...figures, ...exact });
              }
              expect(many.get(busy), at).toEqual((await headlines(s, 'feature', [busy], w)).get(busy));
              expect(many.get(busy)!.total_requests, at).toBe(expected.get(busy)!.sums[0]);
            },
            environment,
          );
        }
    });
  }, 120_000);
});
