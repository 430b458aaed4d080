import { describe, expect, it } from 'vitest';
import * as wilsonMigration from '../../migrations/20261128060000_minute_wilson_bounds.ts';
import type { Db } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { featureSummaries, modelSummaries, providerSummaries } from '../../src/metrics/summaries.ts';
import { makeFeature } from '../setup/factories.ts';
import { insertUsage, type ModelRef, modelsByName, type UsageEvent, withUsageDatabase } from '../setup/usage-factory.ts';
import { wilsonBad } from './brute-force.ts';

// Mid-minute, so the 1h range starts inside the minute 11:00 and ends inside the minute 12:00: 61 slots.
const NOW = new Date('2026-11-20T12:00:30.000Z');
const at = (hhmmss: string) => new Date(`2026-11-20T${hhmmss}Z`);
const pct = (good: number, slots: number) => (good / slots) * 100;

/** n requests of which `failed` fail, all within the minute starting at `minute` (hh:mm). */
function minute(featureId: string, model: ModelRef, hhmm: string, n: number, failed: number): UsageEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    feature_id: featureId,
    model,
    status: i < failed ? (i % 2 ? 'timeout' : 'error') : 'success',
    created_at: at(`${hhmm}:${String(Math.floor((i * 59) / n)).padStart(2, '0')}.000`),
  }));
}

async function uptime1h(db: Db, featureId: string) {
  const feature = (await db('ai_features').where({ id: featureId }).first())!;
  const m = await featureMetrics(db, feature, '1h', NOW, 'UTC');
  const s = (await featureSummaries(db, [feature], '1h', NOW)).get(featureId)!;
  expect(s.uptime, 'featureSummaries and featureMetrics agree').toBe(m.realtime.uptime);
  return m.realtime.uptime;
}

describe('uptime: the share of good minute slots in the range', () => {
  it('when the range starts mid-minute, then that minute counts only its events inside the range, raw and rolled up', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const f = await makeFeature(db);
      await insertUsage(db, [
        { feature_id: f.id, model: mini, status: 'error', created_at: at('11:00:10.000') }, // before the range: not counted
        { feature_id: f.id, model: mini, status: 'error', created_at: at('11:00:29.999') }, // 1 ms before the range
        { feature_id: f.id, model: mini, status: 'success', created_at: at('11:00:30.000') }, // first instant of the range
        ...minute(f.id, mini, '11:30', 20, 5), // 5 of 20: Wilson lower bound 11.2 %, bad
        ...minute(f.id, mini, '11:31', 4, 1), // 1 of 4: lower bound 4.6 %, good
        ...minute(f.id, mini, '11:32', 4, 4), // 4 of 4: bad
        ...minute(f.id, mini, '11:33', 20, 1), // an error rate of exactly 5 %, but the bound is 0.9 %: good
        { feature_id: f.id, model: mini, status: 'timeout', created_at: at('12:00:30.000') }, // now, a lone failure in the last partial minute: bad
      ]);
      expect(await uptime1h(db, f.id)).toBeCloseTo(pct(58, 61), 10);
      await runRollup({ db });
      expect(await uptime1h(db, f.id)).toBeCloseTo(pct(58, 61), 10);

      // A late failure in a minute already rolled up tips it over: 2 of 5, lower bound 11.8 %.
      await insertUsage(db, [{ feature_id: f.id, model: mini, status: 'error', created_at: at('11:31:59.999') }]);
      expect(await uptime1h(db, f.id)).toBeCloseTo(pct(57, 61), 10);
      await runRollup({ db });
      expect(await uptime1h(db, f.id)).toBeCloseTo(pct(57, 61), 10);
    });
  });

  it('when a feature sets its own error-rate threshold, then a minute is bad when its Wilson lower bound reaches it: 0 makes every busy minute bad, 100 none', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const cases = [
        // Lower bounds: 1/10 → 1.79 %, 1/11 → 1.62 %, 2/2 → 34.2 %, 0/5 → 0.
        { threshold: 1.7, bad: 2 }, // 1/10 and 2/2
        { threshold: 1.6, bad: 3 }, // 1/10, 1/11 and 2/2
        { threshold: 34, bad: 1 }, // only 2/2
        { threshold: 0, bad: 4 }, // every minute with requests
        { threshold: 100, bad: 0 }, // a lower bound is below 100 % whatever the counts
      ];
      const features: { id: string }[] = [];
      for (const c of cases) {
        const f = await makeFeature(db, { error_rate_threshold: c.threshold });
        features.push(f);
        await insertUsage(db, [
          ...minute(f.id, mini, '11:10', 10, 1),
          ...minute(f.id, mini, '11:20', 11, 1),
          ...minute(f.id, mini, '11:40', 2, 2),
          ...minute(f.id, mini, '11:50', 5, 0),
        ]);
        expect(await uptime1h(db, f.id), `threshold ${c.threshold}`).toBeCloseTo(pct(61 - c.bad, 61), 10);
      }
      await runRollup({ db });
      for (const [i, f] of features.entries())
        expect(await uptime1h(db, f.id), `rolled up, threshold ${cases[i].threshold}`).toBeCloseTo(pct(61 - cases[i].bad, 61), 10);
    });
  });

  it('when the range is a day with one bad minute among idle ones, then idle minutes are good and there are range minutes + 1 slots', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const f = await makeFeature(db);
      await insertUsage(db, [...minute(f.id, mini, '03:07', 3, 1), ...minute(f.id, mini, '09:00', 50, 0)]);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const feature = (await db('ai_features').where({ id: f.id }).first())!;
        for (const [range, slots] of [
          ['24h', 1441],
          ['7d', 10081],
          ['30d', 43201],
        ] as const) {
          expect((await featureMetrics(db, feature, range, NOW, 'UTC')).realtime.uptime, `${stage} ${range}`).toBeCloseTo(
            pct(slots - 1, slots),
            10,
          );
        }
        // On an exact minute the first slot is whole and the last holds only now itself: still minutes + 1.
        const onMinute = new Date('2026-11-20T12:00:00.000Z');
        expect((await featureMetrics(db, feature, '24h', onMinute, 'UTC')).realtime.uptime, stage).toBeCloseTo(pct(1440, 1441), 10);
      }
    });
  });

  it('when minutes hold the SPEC examples, then 1 of 4 and idle are good, 4 of 4, 5 of 20 and a lone failure bad: features, models and providers, raw and rolled up', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const f = await makeFeature(db); // default threshold 5 %
      const quiet = await makeFeature(db);
      await insertUsage(db, [
        ...minute(f.id, mini, '11:05', 4, 1), // good
        ...minute(f.id, mini, '11:06', 4, 4), // bad
        ...minute(f.id, mini, '11:07', 20, 5), // bad
        ...minute(f.id, mini, '11:08', 1, 1), // bad
        ...minute(f.id, mini, '11:09', 1, 0), // good; 11:10 onwards idle: good
        // The case: 4 requests a minute, one failure in a few minutes, no minute down.
        ...[11, 12, 13, 14, 15, 16].flatMap((m, i) => minute(quiet.id, mini, `11:${m}`, 4, i % 2)),
      ]);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        expect(await uptime1h(db, f.id), stage).toBeCloseTo(pct(58, 61), 10);
        expect(await uptime1h(db, quiet.id), stage).toBe(100);
        // The model and its provider see both features: 11:06, 11:07 and 11:08 bad.
        expect((await modelSummaries(db, [mini.id], '1h', NOW)).get(mini.id)!.uptime, stage).toBeCloseTo(pct(58, 61), 10);
        expect((await providerSummaries(db, [mini.provider_id], NOW)).get(mini.provider_id)!.uptime, stage).toBeCloseTo(
          pct(1438, 1441),
          10,
        );
      }
    });
  });

  it('when the migration runs down and up over rolled-up hours, then the old rates come back and then the same lower bounds the fold writes', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const f = await makeFeature(db);
      await insertUsage(db, [
        ...minute(f.id, mini, '11:05', 4, 1),
        ...minute(f.id, mini, '11:06', 20, 5),
        ...minute(f.id, mini, '11:07', 8, 0),
      ]);
      await runRollup({ db });
      const hourRow = () =>
        db('usage_minute_counts').where({ scope: 'feature', scope_id: f.id }).first('worst_bp', 'minute_bps') as Promise<{
          worst_bp: number;
          minute_bps: number[];
        }>;
      const folded = await hourRow();
      expect(folded).toEqual({ worst_bp: 1118, minute_bps: [0, 455, 1118] }); // 0/8, 1/4 (4.56 %), 5/20 (11.19 %)
      await wilsonMigration.down(db);
      expect(await hourRow()).toEqual({ worst_bp: 2500, minute_bps: [0, 2500, 2500] }); // raw error rates
      await wilsonMigration.up(db);
      expect(await hourRow()).toEqual(folded);
      expect(await uptime1h(db, f.id)).toBeCloseTo(pct(60, 61), 10);
    });
  });

  it('when the database decides a minute, then it agrees with the exact brute-force Wilson rule for every count up to 120 requests', async () => {
    await withUsageDatabase(async (db) => {
      const { rows } = await db.raw(`SELECT n, f, wilson_lower_bp(n, f) AS bp FROM generate_series(1, 120) n, generate_series(0, n) f`);
      const wrong: string[] = [];
      for (const r of rows as { n: number; f: number; bp: number }[])
        for (const t of [0, 0.01, 1, 1.62, 2.5, 4.56, 4.57, 5, 10, 11.18, 20.65, 20.66, 33.33, 50, 99.99, 100])
          if (r.bp >= Math.round(t * 100) !== wilsonBad(r.n, r.f, t)) wrong.push(`${r.f}/${r.n} at ${t} %`);
      expect(wrong).toEqual([]);
      expect(rows.length).toBe((121 * 122) / 2 - 1);
    });
  });

  it('when models and providers are summarised, then their uptime uses the default 5 % threshold over their own traffic', async () => {
    await withUsageDatabase(async (db) => {
      const models = await modelsByName(db);
      const [mini, gpt41, sonnet] = ['gpt-4o-mini', 'gpt-4.1', 'claude-3-5-sonnet-20241022'].map((n) => models.get(n)!);
      const a = await makeFeature(db, { error_rate_threshold: 50 });
      const b = await makeFeature(db, { error_rate_threshold: 50 });
      await insertUsage(db, [
        ...minute(a.id, mini, '11:10', 4, 1), // mini 1/4 in 11:10 (good alone) ...
        ...minute(b.id, mini, '11:10', 1, 1), // ... plus 1/1 from another feature: 2/5 (bound 11.8 %), bad for the model
        ...minute(a.id, gpt41, '11:10', 21, 0), // openai as a whole in 11:10: 2/26 (bound 2.1 %), good
        ...minute(b.id, gpt41, '11:20', 4, 3), // bound 30 %: bad for gpt-4.1 and openai, good for feature b at 50 %
        ...minute(a.id, sonnet, '11:30', 1, 0),
        ...minute(b.id, mini, '11:45', 4, 4), // bound 51 %: bad for mini, openai, and feature b even at its 50 % threshold
      ]);
      for (const stage of ['raw', 'rolled up']) {
        if (stage === 'rolled up') await runRollup({ db });
        const m = await modelSummaries(db, [mini.id, gpt41.id, sonnet.id], '1h', NOW);
        expect(
          [mini, gpt41, sonnet].map((x) => m.get(x.id)!.uptime),
          stage,
        ).toEqual([pct(59, 61), pct(60, 61), pct(61, 61)]);
        const p = await providerSummaries(db, [mini.provider_id, sonnet.provider_id, models.get('gemini-1.5-pro')!.provider_id], NOW);
        expect(p.get(mini.provider_id)!.uptime, stage).toBeCloseTo(pct(1439, 1441), 10);
        expect(p.get(sonnet.provider_id)!.uptime, stage).toBe(100);
        expect(p.get(models.get('gemini-1.5-pro')!.provider_id)!.uptime, `${stage}: no traffic, no uptime`).toBeNull();
        const f = await featureSummaries(db, [a, b], '1h', NOW);
        expect([f.get(a.id)!.uptime, f.get(b.id)!.uptime], `${stage}: features at 50 %`).toEqual([100, pct(60, 61)]);
      }
    });
  });
});
