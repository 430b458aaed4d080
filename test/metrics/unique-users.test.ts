import { describe, expect, it } from 'vitest';
import * as sketchMigration from '../../migrations/20261128190000_user_sketches.ts';
import type { Db } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { RANGE_NAMES, RANGES } from '../../src/metrics/ranges.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { GRAINS_MS, M, P, SET_MAX, tiling, UserSketch } from '../../src/metrics/user-sketch.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, MINUTE, modelsByName, mulberry32, withUsageDatabase } from '../setup/usage-factory.ts';
import { storedSketches } from './sketches.ts';

/** n distinct users with random 64-bit hashes. */
function sketchOf(n: number, seed: number): UserSketch {
  const rng = mulberry32(seed);
  const sketch = new UserSketch();
  const hash = Buffer.alloc(8);
  for (let u = 0; u < n; u++) {
    hash.writeUInt32BE(Math.floor(rng() * 2 ** 32), 0);
    hash.writeUInt32BE(Math.floor(rng() * 2 ** 32), 4);
    sketch.add(hash, 0);
  }
  return sketch;
}

describe('user sketches', () => {
  it(`when up to ${SET_MAX} users are counted, then the count is exact; from there to a million, within 2% and marked estimated`, () => {
    expect(new UserSketch().estimate()).toBe(0);
    for (const n of [1, 2, 40, SET_MAX]) expect([sketchOf(n, n).estimate(), sketchOf(n, n).exact]).toEqual([n, true]);
    for (const [i, n] of [SET_MAX + 1, 2000, 10_000, 50_000, 200_000, 1_000_000].entries()) {
      const sketch = sketchOf(n, 7 + i);
      expect(sketch.exact).toBe(false);
      expect(Math.abs(sketch.estimate() - n) / n, `n = ${n}: ${sketch.estimate()}`).toBeLessThanOrEqual(0.02);
    }
  });

  it('when sketches are stored and read back, as hashes or registers, and merged, then no user is lost', () => {
    for (const n of [0, 5, SET_MAX, 40_000]) {
      const sketch = sketchOf(n, n + 1);
      const back = UserSketch.decode(sketch.encode());
      expect([back.estimate(), back.exact]).toEqual([sketch.estimate(), sketch.exact]);
      expect(sketch.encode().length).toBe(n > SET_MAX ? M : n * 8);
    }
    const a = sketchOf(20_000, 3);
    const small = sketchOf(600, 4);
    const both = new UserSketch().merge(small).merge(a);
    expect(UserSketch.decode(a.encode()).merge(small).encode()).toEqual(both.encode());
    expect(Math.abs(both.estimate() - 20_600) / 20_600).toBeLessThanOrEqual(0.02);
    // Two exact sketches of 600 users each: 1,200 users, past SET_MAX, so estimated from then on.
    const twice = sketchOf(600, 4).merge(sketchOf(600, 5));
    expect(twice.exact).toBe(false);
    expect(Math.abs(twice.estimate() - 1200) / 1200).toBeLessThanOrEqual(0.02);
  });

  it('when register sketches are merged, from aligned or unaligned buffers, then every register is the larger of the two', () => {
    const rng = mulberry32(11);
    const registers = () => Buffer.from(Array.from({ length: M }, () => Math.floor(rng() * 52)));
    for (const offset of [0, 1, 3]) {
      const a = registers();
      const b = registers();
      // b as pg hands a bytea over: a view at any offset into a larger buffer.
      const unaligned = Buffer.alloc(M + offset);
      b.copy(unaligned, offset);
      const merged = UserSketch.decode(a).merge(UserSketch.decode(Buffer.from(a))); // equal registers
      expect(merged.encode()).toEqual(a);
      const both = UserSketch.decode(a).absorb(unaligned.subarray(offset));
      expect(both.encode()).toEqual(Buffer.from(a.map((x, i) => Math.max(x, b[i]))));
    }
  });

  it('when thousands of hashes are added at once, then every register is the one HyperLogLog defines for them, as added one by one', () => {
    const rng = mulberry32(21);
    const hashes = Buffer.alloc(8 * 30_000);
    for (let at = 0; at < hashes.length; at += 4) hashes.writeUInt32BE(Math.floor(rng() * 2 ** 32), at);
    // Some hashes with few or no bits set past the register index (the longest runs of zeros).
    hashes.writeBigUInt64BE(0x0000_0000_0000_0007n, 0);
    hashes.writeBigUInt64BE(0x8000_0000_0000_0000n + 5n, 8);
    hashes.writeBigUInt64BE(0x0000_0001_0000_4000n, 16);
    const want = new Uint8Array(M);
    for (let at = 0; at < hashes.length; at += 8) {
      const h = hashes.readBigUInt64BE(at);
      const rest = h >> BigInt(P);
      let rho = 1;
      if (rest === 0n) rho = 64 - P + 1;
      else for (let r = rest; (r & 1n) === 0n; r >>= 1n) rho++;
      const i = Number(h & BigInt(M - 1));
      want[i] = Math.max(want[i], rho);
    }
    expect(UserSketch.decode(hashes).encode()).toEqual(Buffer.from(want));
    const oneByOne = new UserSketch();
    for (let at = 0; at < hashes.length; at += 8) oneByOne.add(hashes, at);
    expect(oneByOne.encode()).toEqual(Buffer.from(want));
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
      const folded = await storedSketches(db);
      expect(await figures(db, feature, now)).toEqual(pending);
      await rebuildRollups(db);
      expect(await storedSketches(db)).toEqual(folded);
      await sketchMigration.down(db);
      await sketchMigration.up(db);
      expect(await storedSketches(db)).toEqual(folded);
      expect(await figures(db, feature, now)).toEqual(pending);
    });
  }, 120_000);

  it(`when a window has at most ${SET_MAX} users, then they are counted exactly, however many events they made`, async () => {
    await withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 17_000);
      await insertEvents(db, feature.id, now, 6000, 'a-', SET_MAX, '(g * 7919) % 86000');
      await runRollup({ db });
      for (const range of RANGE_NAMES) {
        const { usage } = await featureMetrics(db, feature, range, now, 'UTC');
        const exact = await exactUsers(db, feature.id, new Date(now.getTime() - RANGES[range].ms), now);
        expect(usage, range).toMatchObject({ unique_users: exact, unique_users_approximate: false });
      }
    });
  });
});

describe('unique users read again', () => {
  it('when a window is read again, then only the sketches folded into since are sent, and the count follows them', async () => {
    await withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 17_000);
      // Three days of traffic over 3,000 users: day sketches are registers.
      await insertEvents(db, feature.id, now, 9000, 'a-', 3000, `(g * 7919) % ${3 * 86_400}`);
      await runRollup({ db });
      // Per read of the 30d window: how many sketches came, and how many of them with their bytes.
      // (The folds read their sketches with the same statement: only the dashboard's reads are counted.)
      const reads: { rows: number; sent: number }[] = [];
      let reading = false;
      const watch = (response: { rows?: { registers?: Buffer | null }[] }, query: { sql: string }) => {
        if (reading && query.sql.includes('usage_user_sketches') && query.sql.includes('k.held'))
          reads.push({ rows: response.rows!.length, sent: response.rows!.filter((r) => r.registers).length });
      };
      db.on('query-response', watch);
      try {
        const users = async () => {
          reading = true;
          try {
            return (await featureMetrics(db, feature, '30d', now, 'UTC')).usage.unique_users;
          } finally {
            reading = false;
          }
        };
        const first = await users();
        expect(await users()).toBe(first);
        expect(reads[0].sent).toBe(reads[0].rows);
        expect(reads[1]).toEqual({ rows: reads[0].rows, sent: 0 });

        // Late events of 2,000 new users two days ago: the sketches holding them change, the others not.
        await insertEvents(db, feature.id, now, 2000, 'b-', 2000, `${2 * 86_400} + g % 600`);
        await runRollup({ db });
        const after = await users();
        const exact = await exactUsers(db, feature.id, new Date(now.getTime() - RANGES['30d'].ms), now);
        expect(Math.abs(after - exact) / exact).toBeLessThanOrEqual(0.02);
        expect(after).toBeGreaterThan(first + 1500);
        expect(reads[2].sent).toBeGreaterThan(0);
        expect(reads[2].sent).toBeLessThan(reads[2].rows);
      } finally {
        db.off('query-response', watch);
      }
    });
  });
});

describe('unique users folded again', () => {
  it('when a fold brings only users its sketches hold, then none is written again; when another writer changed one, the next fold reads it again', async () => {
    await withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      // The events span the hour before now: within one UTC day, so the test's day sketch is the one they touch.
      const recent = Math.floor(Date.now() / 1000) * 1000 - 17_000;
      const now = new Date(recent % DAY < 2 * 3_600_000 ? recent - 2 * 3_600_000 : recent);
      const versions = async () =>
        (await db.raw('SELECT feature_id, grain_ms, bucket, xmin::text AS v FROM usage_user_sketches ORDER BY 1, 2, 3')).rows;
      // 2,000 users over the last hour (registers), then the same users at the same moments again.
      await insertEvents(db, feature.id, now, 4000, 'a-', 2000, '(g * 7919) % 3600');
      await runRollup({ db });
      const first = await versions();
      const sketches = await storedSketches(db);
      await db.raw("INSERT INTO ai_usage_event_keys SELECT 'again-' || event_id, created_at FROM ai_usage_event_keys");
      await db.raw(`INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status, response_time_ms, created_at)
                    SELECT 'again-' || event_id, feature_id, model_id, provider_id, environment, end_user_id, status, response_time_ms, created_at
                    FROM ai_usage_logs`);
      expect(await runRollup({ db })).toMatchObject({ rows: 4000 });
      expect(await versions()).toEqual(first);
      expect(await storedSketches(db)).toEqual(sketches);

      // Another writer adds users to the day sketch; the next fold (new users again) keeps them.
      const day = { feature_id: feature.id, grain_ms: DAY };
      const { registers } = (await db('usage_user_sketches').where(day).first('registers'))!;
      const written = UserSketch.decode(registers).merge(sketchOf(5000, 3)).encode();
      await db('usage_user_sketches').where(day).update({ registers: written });
      await insertEvents(db, feature.id, now, 300, 'c-', 300, '(g * 7) % 600');
      await runRollup({ db });
      const after = (await db('usage_user_sketches').where(day).first('registers'))!.registers;
      expect(after.length).toBe(M);
      expect([...after].every((r, i) => r >= written[i])).toBe(true);
      expect(UserSketch.decode(after).estimate()).toBeGreaterThan(UserSketch.decode(written).estimate());
    });
  });
});
