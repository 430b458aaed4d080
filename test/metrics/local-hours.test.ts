import { describe, expect, it } from 'vitest';
import * as dayHours from '../../migrations/20261128222000_day_hour_requests.ts';
import { inSnapshot, requestsByLocalHour } from '../../src/metrics/queries.ts';
import { type RangeName, windowOf } from '../../src/metrics/ranges.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { offsetMinutes, wholeHourOffsets } from '../../src/metrics/time-zone.ts';
import { makeFeature } from '../setup/factories.ts';
import {
  DAY,
  insertUsage,
  int,
  MINUTE,
  modelsByName,
  mulberry32,
  pick,
  type UsageEvent,
  withUsageDatabase,
} from '../setup/usage-factory.ts';

// Requests by hour of the day in the admin's zone (the peak usage hour): whole days come from the day
// rows' per-UTC-hour counts, the rest from hour, minute and raw rows. Held against a count of the raw
// rows, hour by hour, in zones with and without summer time and off whole hours, at every rollup stage.
const NOW = new Date('2026-11-20T12:34:56.789Z');
const ZONES = ['UTC', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'Asia/Kolkata', 'America/St_Johns'];
const RANGES: RangeName[] = ['24h', '7d', '30d'];

/** The local hour of an instant in a zone, by Intl (independent of PostgreSQL's AT TIME ZONE). */
const localHour = (at: Date, timeZone: string) =>
  Math.floor(((((at.getTime() / MINUTE + offsetMinutes(timeZone, at)) % 1440) + 1440) % 1440) / 60);

function brute(events: UsageEvent[], featureId: string, range: RangeName, timeZone: string, environment: string | null) {
  const w = windowOf(range, NOW);
  const counts = new Map<number, number>();
  for (const e of events) {
    if (e.feature_id !== featureId || e.created_at < w.from || e.created_at >= w.to) continue;
    if (environment && (e.environment ?? 'production') !== environment) continue;
    const h = localHour(e.created_at, timeZone);
    counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  return counts;
}

describe('requests by local hour', () => {
  it('when whole days come from the day rows, then every hour of the day matches the raw rows in every zone, range and rollup stage', async () => {
    await withUsageDatabase(async (db) => {
      const models = [...(await modelsByName(db)).values()].slice(0, 3);
      const f = await makeFeature(db);
      const rng = mulberry32(19);
      // 40 days back from now, across the end of summer time in Europe (Oct 25) and the US (Nov 1),
      // with a few events exactly on hour and day boundaries and after the last whole minute.
      const spread = (n: number, late = false): UsageEvent[] =>
        Array.from({ length: n }, () => {
          const at =
            rng() < 0.1
              ? Math.floor((NOW.getTime() - int(rng, 0, 40) * DAY) / 3_600_000) * 3_600_000
              : NOW.getTime() - Math.floor(rng() * 40 * DAY);
          return {
            feature_id: f.id,
            model: pick(rng, models),
            environment: pick(rng, ['production', 'production', 'staging'] as const),
            created_at: new Date(late ? at - 5 * DAY : at),
          };
        });
      const events = [...spread(3000), { feature_id: f.id, model: models[0], created_at: new Date(NOW.getTime() - 1000) }];
      await insertUsage(db, events);

      const check = async (stage: string) => {
        for (const timeZone of ZONES)
          for (const range of RANGES)
            for (const environment of ['production', null] as const) {
              const w = windowOf(range, NOW);
              const got = await inSnapshot(
                db,
                (s) => requestsByLocalHour(s, 'feature', [f.id], w, timeZone, wholeHourOffsets(timeZone, w.from, NOW)),
                environment,
              );
              const want = brute(events, f.id, range, timeZone, environment);
              expect(Object.fromEntries([...got].filter(([, n]) => n > 0)), `${stage} ${timeZone} ${range} ${environment}`).toEqual(
                Object.fromEntries(want),
              );
            }
      };
      await check('raw');
      await runRollup({ db });
      await check('rolled up');
      const late = spread(400, true);
      events.push(...late);
      await insertUsage(db, late);
      await check('late, not rolled up');
      await runRollup({ db });
      await check('late, rolled up');
      await rebuildRollups(db, { from: new Date(NOW.getTime() - 20 * DAY), to: new Date(NOW.getTime() - 10 * DAY) });
      await check('rebuilt range');
      await rebuildRollups(db);
      await check('rebuilt');

      // The migration fills existing day rows from their hour rows: the same counts as the fold's.
      const stored = async () =>
        (await db.raw('SELECT bucket, model_id, environment, prompt_version, hour_requests FROM usage_rollup_day ORDER BY 1, 2, 3, 4'))
          .rows;
      const folded = await stored();
      expect(folded.length).toBeGreaterThan(40);
      expect(folded.every((r: { hour_requests: number[] }) => r.hour_requests.length === 24)).toBe(true);
      await dayHours.down(db);
      await dayHours.up(db);
      expect(await stored()).toEqual(folded);
    });
  });
});
