import type { Knex } from 'knex';

// Uptime over long ranges counted each bad minute by unnesting every hour's 60 minute counts (for
// 30 days, 43,200 rows per feature on every dashboard read). Each hour now also keeps its minutes'
// error rates, sorted: the bad minutes at any threshold are then a binary search (width_bucket)
// instead of a scan. Rates are in basis points rounded down, so "rate ≥ threshold" stays exact for
// whole-basis-point thresholds (the thresholds are stored with two decimals of a percent).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION minute_error_bps(requests integer[], failures integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT coalesce(array_agg(f::bigint * 10000 / r ORDER BY f::bigint * 10000 / r), '{}')::integer[]
      FROM unnest(requests, failures) AS u(r, f) WHERE r > 0
    $$;
    ALTER TABLE usage_minute_counts ADD COLUMN minute_bps integer[];
    UPDATE usage_minute_counts SET minute_bps = minute_error_bps(requests, failures);
    ALTER TABLE usage_minute_counts ALTER COLUMN minute_bps SET NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE usage_minute_counts DROP COLUMN minute_bps;
    DROP FUNCTION minute_error_bps(integer[], integer[]);
  `);
}
