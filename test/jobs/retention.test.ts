import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { rawDroppedBefore } from '../../src/db/retention.ts';
import { run } from '../../src/jobs/retention.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { ingestEvents } from '../../src/services/ingest.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, insertUsage, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';

// Retention (issue 19): raw usage past RAW_RETENTION_DAYS goes by whole monthly partitions once folded;
// the rollups keep every figure, a rebuild keeps what it cannot rebuild, idempotency keys are pruned
// by when they were received.
const NOW = new Date();
const retention = { rawDays: 90, keyDays: 7 };
const monthStart = (monthsBack: number) => new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth() - monthsBack, 1));

const partitions = async (db: Db) =>
  (
    await db.raw(
      "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ai_usage_logs'::regclass ORDER BY 1",
    )
  ).rows.map((r: { name: string }) => r.name);
const dayRollups = async (db: Db) =>
  (await db.raw('SELECT bucket, feature_id, model_id, environment, requests, errors, cost_usd FROM usage_rollup_day ORDER BY 1, 2, 3, 4'))
    .rows;
const partitionOf = (d: Date) => `ai_usage_logs_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

/** A feature with usage 150, 120, 40 and 2 days ago (3 events each), all folded. */
async function seed(db: Db) {
  await db.raw('SELECT ensure_usage_partitions(?::date, 8)', [monthStart(7).toISOString().slice(0, 10)]);
  const feature = await makeFeature(db);
  const model = (await modelsByName(db)).get('gpt-4o-mini')!;
  const at = (days: number, i: number) => new Date(NOW.getTime() - days * DAY + i * 60_000);
  await insertUsage(
    db,
    [150, 120, 40, 2].flatMap((days) =>
      [0, 1, 2].map((i) => ({
        feature_id: feature.id,
        model,
        created_at: at(days, i),
        status: i === 2 ? ('error' as const) : ('success' as const),
        response_time_ms: 100 + days + i,
      })),
    ),
  );
  await runRollup({ db });
  return { feature, model };
}

describe('the retention job', () => {
  it('drops only whole partitions past the window, keeps every rollup, and 30-day figures stay exact', () =>
    withUsageDatabase(async (db) => {
      const { feature } = await seed(db);
      const before = { rollups: await dayRollups(db), metrics: await featureMetrics(db, feature, '30d', NOW, 'UTC') };
      const cutoff = new Date(NOW.getTime() - 90 * DAY);
      const expired = (await partitions(db)).filter((name: string) => {
        const m = /_(\d{4})_(\d{2})$/.exec(name);
        return m && new Date(Date.UTC(Number(m[1]), Number(m[2]), 1)) <= cutoff;
      });
      expect(expired).toContain(partitionOf(new Date(NOW.getTime() - 150 * DAY)));

      const result = await run({ db, now: NOW, retention });
      expect(result).toMatchObject({ ran: true, dropped: expired, waiting: [] });
      const left = await partitions(db);
      for (const name of expired) expect(left).not.toContain(name);
      expect(left).toContain(partitionOf(new Date(NOW.getTime() - 40 * DAY)));
      // Raw rows: those 150 days ago are gone (their partition); 120 days ago only if its month ended before the cutoff.
      const raw = (await db('ai_usage_logs').where({ feature_id: feature.id }).select('created_at')).map((r) => r.created_at as Date);
      const keptFrom = (await rawDroppedBefore(db))!;
      expect(keptFrom.getTime()).toBeLessThanOrEqual(cutoff.getTime());
      expect(raw.every((d) => d >= keptFrom)).toBe(true);
      expect(raw.filter((d) => d.getTime() > NOW.getTime() - 41 * DAY)).toHaveLength(6);

      expect(await dayRollups(db)).toEqual(before.rollups);
      expect(await featureMetrics(db, feature, '30d', NOW, 'UTC')).toEqual(before.metrics);

      // A whole rebuild keeps the rollups of what is gone and rebuilds the rest to the same figures.
      await rebuildRollups(db);
      expect(await dayRollups(db)).toEqual(before.rollups);
      // A range reaching before what was kept is refused, and nothing is touched.
      await expect(rebuildRollups(db, { from: new Date(NOW.getTime() - 160 * DAY), to: NOW })).rejects.toThrow(/dropped by retention/);
      expect(await dayRollups(db)).toEqual(before.rollups);
    }));

  it('waits for the rollups: a partition past the window with unfolded rows is kept, and so is every newer one, until they are folded', () =>
    withUsageDatabase(async (db) => {
      const { feature, model } = await seed(db);
      await insertUsage(db, [{ feature_id: feature.id, model, created_at: new Date(NOW.getTime() - 151 * DAY) }]);
      const unfolded = partitionOf(new Date(NOW.getTime() - 151 * DAY));
      const older = (await partitions(db)).filter((name: string) => name !== 'ai_usage_logs_default' && name < unfolded);
      const waiting = await run({ db, now: NOW, retention });
      expect(waiting.dropped).toEqual(older);
      expect(waiting.waiting).toEqual([unfolded]);
      expect(await partitions(db)).toContain(unfolded);
      await runRollup({ db });
      const after = await run({ db, now: NOW, retention });
      expect(after.dropped).toContain(unfolded);
      expect(after.waiting).toEqual([]);
    }));

  it('prunes idempotency keys received before the window, whatever time their events carry', () =>
    withUsageDatabase(async (db) => {
      const feature = await makeFeature(db);
      const sent = await ingestEvents(db, [
        {
          event_id: 'kept-recent',
          feature: feature.name,
          model: 'gpt-4o-mini',
          status: 'success',
          response_time_ms: 10,
          created_at: new Date(NOW.getTime() - 30 * DAY).toISOString(),
        },
        { event_id: 'old-key', feature: feature.name, model: 'gpt-4o-mini', status: 'success', response_time_ms: 10 },
      ]);
      expect(sent.accepted).toBe(2);
      await db('ai_usage_event_keys')
        .where({ event_id: 'old-key' })
        .update({ received_at: new Date(NOW.getTime() - 8 * DAY) });
      const result = await run({ db, now: NOW, retention });
      expect(result.keys).toBe(1);
      expect((await db('ai_usage_event_keys').whereIn('event_id', ['kept-recent', 'old-key']).pluck('event_id')).sort()).toEqual([
        'kept-recent',
      ]);
      // Within the window, a retry is still a duplicate.
      const retried = await ingestEvents(db, [
        {
          event_id: 'kept-recent',
          feature: feature.name,
          model: 'gpt-4o-mini',
          status: 'success',
          response_time_ms: 10,
          created_at: new Date(NOW.getTime() - 30 * DAY).toISOString(),
        },
      ]);
      expect(retried).toMatchObject({ accepted: 0, duplicates: 1 });
    }));

  it('runs once across instances: a second run while one holds the lock does nothing', () =>
    withUsageDatabase(async (db) => {
      await seed(db);
      const [a, b] = await Promise.all([run({ db, now: NOW, retention }), run({ db, now: NOW, retention })]);
      expect([a.ran, b.ran].sort()).toEqual([false, true]);
    }));
});
