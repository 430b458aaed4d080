import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { costByScopeFromMonth, inSnapshot, READ_EVERY_FROM } from '../../src/metrics/queries.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { monthToDateSpend } from '../../src/metrics/summaries.ts';
import { makeFeature } from '../setup/factories.ts';
import { insertUsage, MINUTE, type ModelRef, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';

// Mid-day, so that the month's last day is partial and has events on both sides of now.
const NOW = new Date('2026-11-20T12:34:56.789Z');
const MONTH = new Date('2026-11-01T00:00:00.000Z');
const at = (iso: string) => new Date(iso);

/** Brute force: each member's cost from raw rows in [from, to]. */
async function rawSpend(db: Db, column: 'feature_id' | 'provider_id', from: Date, to: Date) {
  const rows: { id: string; cost: string }[] = await db('ai_usage_logs')
    .where('created_at', '>=', from)
    .where('created_at', '<=', to)
    .groupBy(column)
    .select({ id: column })
    .sum({ cost: 'cost_usd' });
  return new Map(rows.map((r) => [r.id, Number(r.cost)]));
}

describe('month-to-date spend from the month rollup (issue 19)', () => {
  it('when the month has rolled-up events on both sides of now and events not rolled up yet, then each feature’s and provider’s spend is the raw rows’ up to now, alone or among many, also after a rebuild of some days or of all', async () => {
    await withUsageDatabase(async (db) => {
      const models = await modelsByName(db);
      const mini = models.get('gpt-4o-mini')!;
      const other = [...models.values()].find((m) => m.provider_id !== mini.provider_id)!;
      const features: string[] = [];
      for (let i = 0; i < READ_EVERY_FROM; i++) features.push((await makeFeature(db)).id);
      const event = (k: number, model: ModelRef, created_at: Date) => ({
        feature_id: features[k % features.length],
        model,
        input_cost_units: 1_000 + 7 * k,
        output_cost_units: 3 * k,
        created_at,
      });
      const rolled = [
        at('2026-10-31T23:59:59.999Z'), // last month: out
        MONTH, // the month's first instant: in
        at('2026-11-05T08:00:00Z'),
        at('2026-11-20T03:00:00Z'),
        new Date(NOW.getTime() - 30_000),
        NOW, // now itself: in
        new Date(NOW.getTime() + 1), // rolled up into today's day row, but after now: out
        at('2026-11-20T20:00:00Z'), // out
        at('2026-11-21T01:00:00Z'), // tomorrow: out
      ];
      await insertUsage(
        db,
        features.flatMap((_f, k) => rolled.map((t, i) => event(k + i, (k + i) % 3 ? mini : other, t))),
      );
      await runRollup({ db });
      // Past the rollup's cursor: today before and after now, and a late event earlier in the month.
      const pending = [new Date(NOW.getTime() - 10_000), at('2026-11-10T10:10:10Z'), new Date(NOW.getTime() + 5 * MINUTE)];
      await insertUsage(
        db,
        features.slice(0, 5).flatMap((_f, k) => pending.map((t, i) => event(k + i, i % 2 ? mini : other, t))),
      );

      const byFeature = await rawSpend(db, 'feature_id', MONTH, NOW);
      const byProvider = await rawSpend(db, 'provider_id', MONTH, NOW);
      const providers = [mini.provider_id, other.provider_id];
      const expectExact = async () => {
        const spend = await monthToDateSpend(db, features, NOW);
        expect(spend.current.get(features[0])).toBeGreaterThan(0);
        for (const id of features) expect(spend.current.get(id), id).toBe(byFeature.get(id) ?? 0);
        const alone = await monthToDateSpend(db, [features[1]], NOW);
        expect(alone.current.get(features[1])).toBe(byFeature.get(features[1]));
        const cost = await inSnapshot(db, (s) =>
          costByScopeFromMonth(s, 'provider', providers, { from: MONTH, to: new Date(NOW.getTime() + 1) }),
        );
        for (const id of providers) expect(cost.get(id), id).toBe(byProvider.get(id));
      };
      await expectExact();
      // A range rebuild refolds whole days the month rows already held; a whole one starts afresh.
      await rebuildRollups(db, { from: at('2026-11-05T06:00:00Z'), to: at('2026-11-05T09:00:00Z') });
      await expectExact();
      await rebuildRollups(db);
      await insertUsage(
        db,
        features.slice(0, 5).flatMap((_f, k) => pending.map((t, i) => event(k + i + 1, i % 2 ? other : mini, new Date(t.getTime() + 1)))),
      );
      byFeature.clear();
      for (const [id, c] of await rawSpend(db, 'feature_id', MONTH, NOW)) byFeature.set(id, c);
      byProvider.clear();
      for (const [id, c] of await rawSpend(db, 'provider_id', MONTH, NOW)) byProvider.set(id, c);
      await expectExact();
    });
  }, 60_000);
});
