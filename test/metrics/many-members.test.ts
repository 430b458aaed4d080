import { describe, expect, it } from 'vitest';
import type { Environment } from '../../src/domain.ts';
import { costByScope, inSnapshot, READ_EVERY_FROM, sumsByScope } from '../../src/metrics/queries.ts';
import { windowOf } from '../../src/metrics/ranges.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, HOUR, insertUsage, MINUTE, modelsByName, type UsageEvent, withUsageDatabase } from '../setup/usage-factory.ts';

const NOW = new Date('2026-11-20T12:34:56.789Z');

describe('sums and spend of many features at once (issue 19: rollups read by bucket)', () => {
  it('when READ_EVERY_FROM or more features are read together, then each has the figures it has when read alone, and features not asked for are left out', async () => {
    await withUsageDatabase(async (db) => {
      const mini = (await modelsByName(db)).get('gpt-4o-mini')!;
      const asked: string[] = [];
      for (let i = 0; i < READ_EVERY_FROM; i++) asked.push((await makeFeature(db)).id);
      const other = (await makeFeature(db)).id;
      // Every grain of a window: whole days, whole hours, whole minutes, the partial minutes at its edges.
      const ago = [3 * DAY + 5 * HOUR, 26 * HOUR, 5 * HOUR + 7 * MINUTE, 20 * MINUTE + 3_000, 30_000, DAY - 10_000, 30 * DAY - 20_000];
      const event = (feature_id: string, k: number, i: number, environment: Environment): UsageEvent => ({
        feature_id,
        model: mini,
        environment,
        status: (k + i) % 5 === 0 ? 'error' : 'success',
        response_time_ms: 100 + 37 * k + i,
        input_tokens: 10 + k,
        created_at: new Date(NOW.getTime() - ago[i]),
      });
      const all = [...asked, other].flatMap((id, k) => ago.map((_a, i) => event(id, k, i, i % 2 ? 'production' : 'staging')));
      await insertUsage(db, all);
      await runRollup({ db });
      // Rows past the rollup's cursor, inside whole minutes: read raw.
      await insertUsage(
        db,
        [...asked.slice(0, 3), other].map((id, k) => event(id, k, 2, 'production')),
      );

      for (const environment of [null, 'production'] as const)
        for (const range of ['24h', '30d'] as const) {
          const w = windowOf(range, NOW);
          await inSnapshot(
            db,
            async (s) => {
              const sums = await sumsByScope(s, 'feature', asked, w);
              const spend = await costByScope(s, 'feature', asked, w);
              expect([...sums.keys()].sort(), `${range} ${environment}`).toEqual([...asked].sort());
              expect(spend.has(other)).toBe(false);
              for (const id of asked) {
                const alone = (await sumsByScope(s, 'feature', [id], w)).get(id);
                expect(sums.get(id), `${range} ${environment} sums`).toEqual(alone);
                expect(spend.get(id), `${range} ${environment} spend`).toBe((await costByScope(s, 'feature', [id], w)).get(id));
              }
              expect(sums.get(asked[0])!.requests).toBeGreaterThan(0);
            },
            environment,
          );
        }
    });
  }, 60_000);
});
