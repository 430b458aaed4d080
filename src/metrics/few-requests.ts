import { namedRaw } from '../db/named-statement.ts';
import { EXACT_COLUMNS, exactOf, type Snapshot, type Sums, toSums } from './queries.ts';
import type { Window } from './ranges.ts';
import { envFilter, RAW_SUMS, SCOPE_COLUMN, type Scope } from './segments.ts';

const DAY_MS = 86_400_000;

/**
 * Sums of `columns` (additive columns of raw rows: RAW_SUMS) and exact percentiles (p50, p95, p99; null
 * without requests) over a window, from raw rows, for each member of `ids` that certainly has at most
 * `upTo` requests in it: its rows in the day rollup over the UTC days the window touches, plus its rows not
 * rolled up yet, add up to no more than that. Members without such a bound are left out (the caller reads
 * them from the rollups). One statement: the bound from the day rows of those days (every member's, one range
 * scan by bucket: this is a read for many members) and the rows past the cursor, then one index scan per member
 * that passes, which yields its percentiles and its sums together.
 * With many members that have little traffic each (the overview's 200 features), this replaces reading every
 * member's hour and minute rows of the window, and their raw edges, and a second pass for the percentiles.
 * Only for a window whose raw rows are all kept (retention drops none younger than MIN_RAW_RETENTION_DAYS).
 */
export async function fewRequestFigures(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  columns: readonly string[],
  upTo: number,
): Promise<Map<string, { sums: Sums; exact: number[] | null }>> {
  if (!ids.length) return new Map();
  const unknown = columns.filter((c) => !(c in RAW_SUMS));
  if (unknown.length) throw new Error(`fewRequestFigures: no raw sum for ${unknown.join(', ')}`);
  const col = SCOPE_COLUMN[scope];
  const inWindow = `${envFilter('l')} AND l.created_at >= :from::timestamptz AND l.created_at < :to::timestamptz`;
  const { rows } = await namedRaw(
    s.db,
    `WITH bound AS (
       SELECT id, sum(n) AS n FROM (
         SELECT r.${col} AS id, r.requests AS n FROM usage_rollup_day r
         WHERE ${envFilter('r')} AND r.bucket >= :day_from::timestamptz AND r.bucket < :day_to::timestamptz
         UNION ALL
         SELECT l.${col}, 1 FROM ai_usage_logs l WHERE l.id > :cursor::bigint AND l.${col} = ANY(:ids::uuid[]) AND ${inWindow}
       ) b GROUP BY id
     )
     SELECT m.id, ${columns.map((c) => `x.${c}`).join(', ')}, ${EXACT_COLUMNS} FROM unnest(:ids::uuid[]) AS m(id) LEFT JOIN bound b ON b.id = m.id
     CROSS JOIN LATERAL (
       SELECT ${columns.map((c) => `${RAW_SUMS[c].sql}::${RAW_SUMS[c].type} AS ${c}`).join(', ')},
              percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY l.response_time_ms) AS p
       FROM ai_usage_logs l WHERE l.${col} = m.id AND ${inWindow}
     ) x
     WHERE coalesce(b.n, 0) <= :up_to`,
    {
      ids: `{${ids.join(',')}}`,
      cursor: s.cursor,
      environment: s.environment,
      from: w.from.toISOString(),
      to: w.to.toISOString(),
      day_from: new Date(Math.floor(w.from.getTime() / DAY_MS) * DAY_MS).toISOString(),
      day_to: new Date(Math.ceil(w.to.getTime() / DAY_MS) * DAY_MS).toISOString(),
      up_to: upTo,
    },
  );
  return new Map((rows as Record<string, number | string | null>[]).map((r) => [String(r.id), { sums: toSums(r), exact: exactOf(r) }]));
}
