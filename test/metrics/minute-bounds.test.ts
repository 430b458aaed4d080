import { describe, expect, it } from 'vitest';
import { withUsageDatabase } from '../setup/usage-factory.ts';

// minute_lower_bps computes each minute's Wilson lower bound in float8 and falls back to the exact
// numeric wilson_lower_bp near whole basis points: its bounds must be exactly the numeric ones.
describe("an hour's minute bounds", () => {
  it('when computed for every small count and for random large ones, then each is the exact Wilson lower bound, sorted', async () => {
    await withUsageDatabase(async (db) => {
      const differing = async (pairs: string) =>
        (
          await db.raw(`
            SELECT count(*)::int AS pairs,
                   count(*) FILTER (WHERE minute_lower_bps(ARRAY[n], ARRAY[f]) <> ARRAY[wilson_lower_bp(n, f)])::int AS differing
            FROM (${pairs}) p`)
        ).rows[0];
      // Every failure count of up to 300 requests (whole-basis-point bounds among them, e.g. 0 failures).
      expect(await differing('SELECT n, f FROM generate_series(1, 300) n, generate_series(0, 300) f WHERE f <= n')).toEqual({
        pairs: 45_450,
        differing: 0,
      });
      // Large counts, failures skewed low (where the bound's terms cancel most).
      expect(
        await differing(`
          SELECT n, floor(q * q * q * n)::int AS f
          FROM (SELECT (1 + floor(((g * 7919) % 100003) / 100003.0 * 2e9))::int AS n, ((g * 104729) % 99991) / 99991.0 AS q
                FROM generate_series(1, 20000) g) s`),
      ).toEqual({ pairs: 20_000, differing: 0 });
      // Whole hours: sorted bounds of the minutes with requests.
      const { rows } = await db.raw(`
        SELECT count(*) FILTER (WHERE minute_lower_bps(r, f) <> (
                 SELECT coalesce(array_agg(wilson_lower_bp(x, y) ORDER BY wilson_lower_bp(x, y)), '{}') FROM unnest(r, f) u(x, y) WHERE x > 0
               ))::int AS differing
        FROM (SELECT k, array_agg((i * k) % 97) AS r, array_agg(((i * k) % 97) * (k % 5) / 7) AS f
              FROM generate_series(0, 59) i, generate_series(1, 500) k GROUP BY k) h`);
      expect(rows[0].differing).toBe(0);
    });
  });
});
