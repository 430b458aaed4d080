import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/knex.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { RANGE_NAMES } from '../../src/metrics/ranges.ts';
import { makeFeature } from '../setup/factories.ts';
import { withUsageDatabase } from '../setup/usage-factory.ts';

describe('metric reads as named prepared statements', () => {
  it('when dashboards are read again and again, then each kind of read is prepared once per connection and planned per call', async () => {
    await withUsageDatabase(async (db, url) => {
      const feature = await makeFeature(db);
      const one = createDb(url, 1); // one connection: what it has prepared is what the reads prepared
      try {
        const prepared = async () =>
          (await one.raw(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'sb\\_%' ORDER BY 1`)).rows.map(
            (r: { name: string }) => r.name,
          );
        const { rows } = await one.raw('SHOW plan_cache_mode');
        expect(rows[0].plan_cache_mode).toBe('force_custom_plan');
        for (const range of RANGE_NAMES) await featureMetrics(one, feature, range, new Date(), 'Europe/Paris');
        const first = await prepared();
        // Breakdown, local hours, previous period, bad minutes, sketches, users of raw rows, …
        expect(first.length).toBeGreaterThanOrEqual(6);
        for (const range of RANGE_NAMES) await featureMetrics(one, feature, range, new Date(Date.now() + 90_000), 'UTC', 'production');
        expect(await prepared()).toEqual(first);
      } finally {
        await one.destroy();
      }
    });
  });
});
