import type { Knex } from 'knex';

// SPEC §4 (uptime): a minute is bad when the lower bound of the 95% Wilson score interval of its
// error rate is at or above the threshold, not when one failure of four requests crosses it. That
// lower bound does not depend on the threshold, so each hour now keeps its minutes' Wilson lower
// bounds, sorted, in minute_bps (and the highest in worst_bp) instead of their raw error rates: the
// bad minutes at any threshold stay a binary search. Bounds are in basis points rounded down, so
// "bound ≥ threshold" stays exact for whole-basis-point thresholds.
//
// With z = 1.96 (z² = 3.8416), f failures of n requests:
//   lower = (2nf + z²n − z·√(n·(4f(n − f) + z²n))) / (2n(n + z²))
// computed in numeric: the square root is that of an exact decimal (exact when it is a perfect
// square, e.g. 0 failures → 0), and div() truncates the quotient exactly.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION wilson_lower_bp(n bigint, f bigint) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN n <= 0 THEN NULL WHEN f <= 0 THEN 0 ELSE
        div(10000 * (2 * n * f + 3.8416 * n - 1.96 * sqrt(n * (4 * f * (n - f) + 3.8416 * n))), 2 * n * (n + 3.8416))::integer
      END
    $$;
    CREATE FUNCTION minute_lower_bps(requests integer[], failures integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(array_agg(b ORDER BY b), '{}')::integer[]
      FROM (SELECT wilson_lower_bp(r, f) AS b FROM unnest(requests, failures) AS u(r, f) WHERE r > 0) x
    $$;
    -- The sorted bounds' last element is the worst minute's (0 for an hour without requests).
    CREATE FUNCTION last_or_zero(a integer[]) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(a[cardinality(a)], 0) $$;
    UPDATE usage_minute_counts SET (minute_bps, worst_bp) = (SELECT b, last_or_zero(b) FROM minute_lower_bps(requests, failures) AS b);
  `);
}

// Back to raw error rates (the functions of the earlier migrations are still there).
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    UPDATE usage_minute_counts
      SET minute_bps = minute_error_bps(requests, failures), worst_bp = worst_minute_bp(requests, failures);
    DROP FUNCTION last_or_zero(integer[]);
    DROP FUNCTION minute_lower_bps(integer[], integer[]);
    DROP FUNCTION wilson_lower_bp(bigint, bigint);
  `);
}
