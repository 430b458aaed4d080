import type { Knex } from 'knex';

// Issue 19: each rollup tick recomputes the Wilson lower bounds of every minute of the hours it
// touches (minute_bps is sorted, so a changed minute cannot be replaced in place): ~60 bounds per
// scope and hour, each a numeric square root (~1.3 µs; 0.3 µs now), most of the fold's per-minute counts upsert.
// Now each bound is computed in float8 first; its floor is the answer unless it lies within 1e-6 bp of
// an integer, where the exact numeric wilson_lower_bp decides. The float8 value is within ~1e-9 bp of
// the exact one (relative error ~1e-15 on terms that cancel by at most a factor ~50, on values
// ≤ 10,000 bp), so the bounds stored stay exactly those of wilson_lower_bp.
const EXACT = `
    SELECT coalesce(array_agg(b ORDER BY b), '{}')::integer[]
    FROM (SELECT wilson_lower_bp(r, f) AS b FROM unnest(requests, failures) AS u(r, f) WHERE r > 0) x`;

const FAST = `
    SELECT coalesce(array_agg(b ORDER BY b), '{}')::integer[]
    FROM (
      SELECT CASE WHEN u.f <= 0 THEN 0
                  WHEN y.x - floor(y.x) BETWEEN 1e-6::float8 AND 1 - 1e-6::float8 THEN floor(y.x)::integer
                  ELSE wilson_lower_bp(u.r, u.f) END AS b
      FROM unnest(requests, failures) AS u(r, f),
           -- OFFSET 0: computed once per minute, not once per use of x.
           LATERAL (SELECT 10000 * (2 * u.r::float8 * u.f + 3.8416::float8 * u.r
                                    - 1.96::float8 * sqrt(u.r::float8 * (4 * u.f::float8 * (u.r - u.f) + 3.8416::float8 * u.r)))
                           / (2 * u.r::float8 * (u.r + 3.8416::float8)) AS x OFFSET 0) y
      WHERE u.r > 0
    ) z`;

const define = (body: string) => `
  CREATE OR REPLACE FUNCTION minute_lower_bps(requests integer[], failures integer[]) RETURNS integer[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$${body}
  $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(define(FAST));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(define(EXACT));
}
