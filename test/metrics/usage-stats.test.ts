import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import type { RangeName } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, insertUsage, type ModelRef, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';

const times = (iso: string, n: number) => Array.from({ length: n }, (_, i) => new Date(new Date(iso).getTime() + i * 1000));

async function usageOf(db: Db, featureId: string, now: Date, timeZone: string, range: RangeName = '24h') {
  const feature = (await db('ai_features').where({ id: featureId }).first())!;
  return (await featureMetrics(db, feature, range, now, timeZone)).usage;
}

/** A feature with n events at each of the given instants. */
async function featureWith(db: Db, model: ModelRef, at: Date[], user: (i: number) => string | null = () => null) {
  const f = await makeFeature(db);
  await insertUsage(
    db,
    at.map((created_at, i) => ({ feature_id: f.id, model, created_at, end_user_id: user(i) })),
  );
  return f;
}

describe('peak usage hour in the display time zone', () => {
  it('when a zone is half an hour off UTC (Asia/Kolkata), then the UTC hours split across local hours, raw and rolled up', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-11-20T12:00:00.000Z');
      const f = await featureWith(db, mini, [
        ...times('2026-11-20T10:10:00Z', 5), // Kolkata 15:40
        ...times('2026-11-20T10:40:00Z', 4), // Kolkata 16:10
        ...times('2026-11-20T11:10:00Z', 3), // Kolkata 16:40
      ]);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        expect((await usageOf(db, f.id, now, 'Asia/Kolkata')).peak_usage_hour, stage).toBe(16);
        expect((await usageOf(db, f.id, now, 'Asia/Kathmandu')).peak_usage_hour, stage).toBe(16); // +05:45
        expect((await usageOf(db, f.id, now, 'UTC')).peak_usage_hour, stage).toBe(10);
        expect((await usageOf(db, f.id, now, 'Europe/Paris')).peak_usage_hour, stage).toBe(11);
        expect((await usageOf(db, f.id, now, 'America/St_Johns')).peak_usage_hour, stage).toBe(7); // −03:30: 06:40, 07:10, 07:40
      }
    });
  });

  it('when the range crosses the end of summer time in Paris, then the repeated hour 02:00 gathers both UTC hours', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-10-25T12:00:00.000Z');
      const f = await featureWith(db, mini, [
        ...times('2026-10-25T00:30:00Z', 3), // 02:30 CEST
        ...times('2026-10-25T01:30:00Z', 3), // 02:30 CET
        ...times('2026-10-25T10:30:00Z', 5), // 11:30 CET
      ]);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        for (const range of ['24h', '7d', '30d'] as const)
          expect((await usageOf(db, f.id, now, 'Europe/Paris', range)).peak_usage_hour, `${stage} ${range}`).toBe(2);
      }
    });
  });

  it('when the range crosses the start of summer time in Paris, then the skipped hour never appears and 01:30 UTC is 03:30 local', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-03-29T12:00:00.000Z');
      const f = await featureWith(db, mini, [
        ...times('2026-03-29T00:30:00Z', 2),
        ...times('2026-03-29T01:30:00Z', 4),
        ...times('2026-03-29T02:10:00Z', 3),
      ]);
      await runRollup({ db });
      expect((await usageOf(db, f.id, now, 'Europe/Paris')).peak_usage_hour).toBe(3);
    });
  });

  it('when two hours tie, then the earlier hour of the day wins; with no requests there is no peak', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-11-20T23:59:00.000Z');
      const f = await featureWith(db, mini, [
        ...times('2026-11-20T20:15:00Z', 2),
        ...times('2026-11-20T05:15:00Z', 2),
        ...times('2026-11-20T07:15:00Z', 1),
      ]);
      const empty = await makeFeature(db);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        expect((await usageOf(db, f.id, now, 'UTC')).peak_usage_hour, stage).toBe(5);
        expect((await usageOf(db, f.id, now, 'Asia/Tokyo')).peak_usage_hour, stage).toBe(5); // 14:15, 05:15 (+1 day), 16:15
        expect((await usageOf(db, empty.id, now, 'UTC')).peak_usage_hour, stage).toBeNull();
      }
    });
  });
});

describe('unique users', () => {
  it('when users come and go around the range start, then distinct non-null users inside the range are counted exactly, also with late events', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-11-20T12:00:00.000Z');
      const from = now.getTime() - DAY;
      const f = await makeFeature(db);
      const ev = (user: string | null, t: number) => ({ feature_id: f.id, model: mini, end_user_id: user, created_at: new Date(t) });
      await insertUsage(db, [
        ev('alice', now.getTime()),
        ev('alice', from + 5000),
        ev('alice', from - 5000),
        ev('bob', from), // at the first instant of the range
        ev('carol', from - 1), // 1 ms before: not in the range
        ev(null, now.getTime() - 1000),
        ev(null, now.getTime() - 2000),
      ]);
      const expectUsers = async (stage: string, users: number, requests: number) => {
        const u = await usageOf(db, f.id, now, 'UTC');
        expect([u.unique_users, u.total_requests], stage).toEqual([users, requests]);
        expect(u.avg_requests_per_user, stage).toBeCloseTo(requests / users, 12);
        expect(u.unique_users_approximate, stage).toBe(false);
      };
      await expectUsers('raw', 2, 5);
      await runRollup({ db });
      await expectUsers('rolled up', 2, 5);
      // Late events: carol shows up inside the range, alice long before it, dave twice; nothing rolled up yet.
      await insertUsage(db, [
        ev('carol', from + DAY / 2),
        ev('alice', from - 3 * DAY),
        ev('dave', now.getTime() - 60_000),
        ev('dave', from + 1),
      ]);
      await expectUsers('late, raw', 4, 8);
      await runRollup({ db });
      await expectUsers('late, rolled up', 4, 8);
      const week = await usageOf(db, f.id, now, 'UTC', '7d');
      expect([week.unique_users, week.total_requests]).toEqual([4, 11]);
    });
  });

  it('when every request is anonymous, then there are 0 users and no average per user, not a division by zero', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const now = new Date('2026-11-20T12:00:00.000Z');
      const f = await featureWith(db, mini, times('2026-11-20T11:00:00Z', 3));
      const u = await usageOf(db, f.id, now, 'UTC');
      expect(u).toMatchObject({ total_requests: 3, unique_users: 0, avg_requests_per_user: null, peak_usage_hour: 11 });
    });
  });
});
