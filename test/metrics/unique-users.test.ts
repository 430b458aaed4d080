import { describe, expect, it } from 'vitest';
import * as sketchMigration from '../../migrations/20261128190000_user_sketches.ts';
import type { Db } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { RANGE_NAMES, RANGES } from '../../src/metrics/ranges.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { EXACT_USERS_UP_TO } from '../../src/metrics/unique-users.ts';
import { GRAINS_MS, M, Registers, tiling } from '../../src/metrics/user-sketch.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, MINUTE, modelsByName, mulberry32, withUsageDatabase } from '../setup/usage-factory.ts';

/** n distinct users as the SQL hash would place them: a uniform register and a geometric value. */
function sketchOf(n: number, seed: number): Registers {
  const rng = mulberry32(seed);
  const regs = new Registers();
  for (let u = 0; u < n; u++) {
    let rho = 1;
    while (rho < 51 && rng() < 0.5) rho++;
    regs.set(Math.floor(rng() * M), rho);
  }
  return regs;
}

describe('HyperLogLog sketches', () => {
  it('when users from one to a million are counted, then the estimate is within 2% (one user: exactly one)', () => {
    expect(new Registers().estimate()).toBe(0);
    expect(sketchOf(1, 1).estimate()).toBe(1);
    for (const [i, n] of [10, 100, 1000, 10_000, 50_000, 200_000, 1_000_000].entries()) {
      const est = sketchOf(n, 7 + i).estimate();
      expect(Math.abs(est - n) / n, `n = ${n}: ${est}`).toBeLessThanOrEqual(0.02);
    }
  });

  it('when sketches are stored and read back, sparse or dense, and merged, then no register is lost', () => {
    for (const n of [0, 5, 3000, 40_000]) {
      const regs = sketchOf(n, n + 1);
      const back = Registers.decode(regs.encode());
      expect(back.estimate()).toBe(regs.estimate());
      expect(back.encode().length === M).toBe(n > M / 8);
    }
    const a = sketchOf(20_000, 3);
    const b = sketchOf(20_000, 4);
    const both = sketchOf(0, 0).merge(a).merge(b);
    expect(Registers.decode(Buffer.from(b.encode())).merge(a).encode()).toEqual(both.encode());
    expect(Math.abs(both.estimate() - 40_000) / 40_000).toBeLessThanOrEqual(0.02);
  });

  it('when a window of any length is tiled, then its buckets are aligned, contiguous, cover it exactly and stay few', () => {
    const rng = mulberry32(5);
    for (let i = 0; i < 200; i++) {
      const to = Math.floor((1.8e12 + rng() * 1e10) / MINUTE) * MINUTE;
      const length = RANGES[RANGE_NAMES[i % RANGE_NAMES.length]].ms;
      const buckets = tiling(to - length, to);
      let t = to - length;
      for (const b of buckets) {
        expect(b.start).toBe(t);
        expect(b.start % b.grainMs).toBe(0);
        t += b.grainMs;
      }
      expect(t).toBe(to);
      expect(buckets.length).toBeLessThanOrEqual(2 * (9 + 5 + 5 + 3) + 30);
    }
    expect(GRAINS_MS.every((g) => DAY % g === 0)).toBe(true);
  });
});

/** Events of one feature made in SQL: `count` of them, user `user-(g % users)` of `prefix`, at now − age(g) seconds. */
async function insertEvents(db: Db, featureId: string, now: Date, count: number, prefix: string, users: number, ageSql: string) {
  const model = [...(await modelsByName(db)).values()][0];
  const bindings = { now: now.toISOString(), count, prefix, users, feature: featureId, model: model.id, provider: model.provider_id };
  const rows = `SELECT :prefix || g AS event_id, :now::timestamptz - (${ageSql}) * interval '1 second' AS created_at, g FROM generate_series(1, :count::int) g`;
  await db.raw(`INSERT INTO ai_usage_event_keys (event_id, created_at) SELECT event_id, created_at FROM (${rows}) r`, bindings);
  await db.raw(
    `INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status, response_time_ms,
                                input_tokens, output_tokens, cost_usd, input_cost_usd, created_at)
     SELECT event_id, :feature, :model, :provider, CASE WHEN g % 3 = 0 THEN 'staging' ELSE 'production' END,
            CASE WHEN g % 10 = 0 THEN NULL ELSE :prefix || 'user-' || (g % :users::int) END, 'success', 200, 10, 5, 0.001, 0.0005, created_at
     FROM (${rows}) r`,
    bindings,
  );
}

async function exactUsers(db: Db, featureId: string, from: Date, now: Date): Promise<number> {
  const { rows } = await db.raw(
    'SELECT count(DISTINCT end_user_id)::int AS n FROM ai_usage_logs WHERE feature_id = ? AND created_at >= ? AND created_at <= ?',
    [featureId, from, now],
  );
  return rows[0].n;
}

async function figures(db: Db, feature: Awaited<ReturnType<typeof makeFeature>>, now: Date) {
  const out: Record<string, { unique_users: number; unique_users_approximate: boolean; exact: number }> = {};
  for (const range of RANGE_NAMES) {
    const { usage } = await featureMetrics(db, feature, range, now, 'UTC');
    const exact = await exactUsers(db, feature.id, new Date(now.getTime() - RANGES[range].ms), now);
    out[range] = { unique_users: usage.unique_users, unique_users_approximate: usage.unique_users_approximate, exact };
  }
  return out;
}

function expectWithin2Percent(got: Awaited<ReturnType<typeof figures>>) {
  for (const [range, f] of Object.entries(got)) {
    expect(f.unique_users_approximate, range).toBe(true);
    expect(Math.abs(f.unique_users - f.exact) / f.exact, `${range}: ${f.unique_users} for ${f.exact}`).toBeLessThanOrEqual(0.02);
  }
}

const sketches = async (db: Db) =>
  (await db('usage_user_sketches').orderBy(['feature_id', 'grain_ms', 'bucket'])).map((s) => ({
    ...s,
    registers: Registers.decode(s.registers).encode(),
  }));

describe('unique users of a busy feature', () => {
  it('when thousands of users are read through the sketches, then every range is within 2% of exact, marked approximate, also with rows not rolled up, after a rebuild and after the migration refills them', async () => {
    await withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 17_000);
      // A month of steady traffic over 8,000 users, and a burst of 5,000 users in the last 50 minutes.
      await insertEvents(db, feature.id, now, 12_000, 'a-', 8000, `(g * 7919) % ${31 * 86_400}`);
      await insertEvents(db, feature.id, now, 6000, 'b-', 5000, '(g * 13) % 3000');
      await runRollup({ db });
      const rolled = await figures(db, feature, now);
      expectWithin2Percent(rolled);
      expect(rolled['1h'].exact).toBeGreaterThan(4000);

      // Not rolled up yet: new users in the last half hour and in the 1h window's partial first minute.
      await insertEvents(db, feature.id, now, 3000, 'c-', 3000, '(g * 7) % 1800');
      await insertEvents(db, feature.id, now, 500, 'd-', 500, `${3600 - 20} + g % 10`);
      const pending = await figures(db, feature, now);
      expectWithin2Percent(pending);
      expect(pending['1h'].exact).toBeGreaterThan(rolled['1h'].exact + 3000);

      await runRollup({ db });
      const folded = await sketches(db);
      expect(await figures(db, feature, now)).toEqual(pending);
      await rebuildRollups(db);
      expect(await sketches(db)).toEqual(folded);
      await sketchMigration.down(db);
      await sketchMigration.up(db);
      expect(await sketches(db)).toEqual(folded);
      expect(await figures(db, feature, now)).toEqual(pending);
    });
  }, 120_000);

  it(`when a window holds at most ${EXACT_USERS_UP_TO} events, then its users are counted exactly from them`, async () => {
    await withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 17_000);
      await insertEvents(db, feature.id, now, EXACT_USERS_UP_TO, 'a-', 150, 'g * 60');
      await runRollup({ db });
      const { usage } = await featureMetrics(db, feature, '30d', now, 'UTC');
      expect(usage).toMatchObject({ unique_users: await exactUsers(db, feature.id, new Date(0), now), unique_users_approximate: false });
    });
  });
});
