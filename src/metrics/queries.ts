import type { Knex } from 'knex';
import type { Db } from '../db/knex.ts';
import { namedRaw } from '../db/named-statement.ts';
import type { Environment } from '../domain.ts';
import { HIST_COLUMNS, SUM_COLUMNS } from './histogram.ts';
import type { Window } from './ranges.ts';
import { envFilter, type ReadScope, SCOPE_COLUMN, type Scope, segmentsSql, windowBindings } from './segments.ts';

/**
 * A consistent read: one repeatable-read transaction and the rollup cursor as it stands in it, limited
 * to one environment or (null) reading all of them. Unique users have no environment dimension
 * (unique-users.ts): they always count every environment. Bad minutes of one environment come
 * from the minute rollup (the hourly arrays of usage_minute_counts count every environment).
 */
export interface Snapshot extends ReadScope {
  db: Db;
}

/** Runs fn in a read-only snapshot, so rollups, the cursor and raw rows agree with each other. */
export function inSnapshot<T>(db: Db, fn: (s: Snapshot) => Promise<T>, environment: Environment | null = null): Promise<T> {
  return db.transaction(
    async (trx) => {
      const cursor = await trx('rollup_cursors').where({ name: 'usage' }).first('last_id');
      return fn({ db: trx, cursor: Number(cursor?.last_id ?? 0), environment });
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

/** A uuid[] literal (ids come from the database or are validated as uuids). */
export const uuidArray = (ids: string[]) => `{${ids.join(',')}}`;

export interface Sums {
  requests: number;
  successes: number;
  errors: number;
  timeouts: number;
  latency_sum_ms: number;
  cost_usd: number;
  input_cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  hist: number[];
}

type Row = Record<string, number | string | null>;
/** SQL select-list: these additive columns summed (money 0 rather than null without rows). */
const sumsOf = (columns: readonly string[]) =>
  columns.map((c) => (c.endsWith('_usd') ? `coalesce(sum(${c}), 0) AS ${c}` : `sum(${c})::bigint AS ${c}`)).join(', ');
const SUMS = sumsOf(SUM_COLUMNS);

export function toSums(row: Row | undefined): Sums {
  const n = (k: string) => Number(row?.[k] ?? 0);
  return {
    requests: n('requests'),
    successes: n('successes'),
    errors: n('errors'),
    timeouts: n('timeouts'),
    latency_sum_ms: n('latency_sum_ms'),
    cost_usd: n('cost_usd'),
    input_cost_usd: n('input_cost_usd'),
    input_tokens: n('input_tokens'),
    output_tokens: n('output_tokens'),
    hist: HIST_COLUMNS.map(n),
  };
}

/**
 * From this many members on, a read per member (sums, spend) takes the window's rollup rows of every
 * member by bucket, one range scan each, and keeps the members' (segmentsSql's :every) rather than
 * probing the rollups' indexes once per member: what the overview and the feature cards read for every feature.
 */
export const READ_EVERY_FROM = 50;

/** windowBindings for a read that groups by member, with :every when the members are many; `keep` leaves out the rows of other members. */
function perMemberBindings(s: Snapshot, ids: string[], w: Window) {
  const wanted = new Set(ids);
  return {
    bindings: { ...windowBindings(w, ids, s), every: ids.length >= READ_EVERY_FROM },
    keep: (rows: Row[]) => rows.filter((r) => wanted.has(String(r.id))),
  };
}

/** A read of sums per member: SQL giving rows (id, …its columns' sums), its bindings, and which of its rows to keep. */
interface SumsRead {
  sql: string;
  bindings: Knex.ValueDict;
  keep: (rows: Row[]) => Row[];
}

function sumsByScopeRead(s: Snapshot, scope: Scope, ids: string[], w: Window, columns: readonly string[]): SumsRead {
  const read = perMemberBindings(s, ids, w);
  return {
    sql: `WITH ${segmentsSql(scope, columns)} SELECT ${SCOPE_COLUMN[scope]} AS id, ${sumsOf(columns)} FROM seg GROUP BY 1`,
    ...read,
  };
}

/** Usage sums per member of the scope (feature, model or provider) over a window: every column, or only `columns` (the others 0). */
export async function sumsByScope(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  columns: readonly string[] = SUM_COLUMNS,
): Promise<Map<string, Sums>> {
  if (!ids.length) return new Map();
  const read = sumsByScopeRead(s, scope, ids, w, columns);
  const { rows } = await namedRaw(s.db, read.sql, read.bindings);
  return new Map(read.keep(rows as Row[]).map((r) => [String(r.id), toSums(r)]));
}

/** Spend (USD) per member of a scope over a window: sumsByScope's cost alone, without the other sums and the histogram. */
export async function costByScope(s: Snapshot, scope: Scope, ids: string[], w: Window): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const col = SCOPE_COLUMN[scope];
  const read = perMemberBindings(s, ids, w);
  const { rows } = await namedRaw(
    s.db,
    `WITH ${segmentsSql(scope, ['cost_usd'])} SELECT ${col} AS id, coalesce(sum(cost_usd), 0) AS cost_usd FROM seg GROUP BY 1`,
    read.bindings,
  );
  return new Map(read.keep(rows as Row[]).map((r) => [String(r.id), Number(r.cost_usd)]));
}

const DAY_MS = 86_400_000;

/** A raw row's share of each additive column but the histogram's (what RAW_SUMS in segments.ts adds up per group). */
const RAW_VALUE: Record<string, string> = {
  requests: '1',
  successes: "(l.status = 'success')::int",
  errors: "(l.status = 'error')::int",
  timeouts: "(l.status = 'timeout')::int",
  latency_sum_ms: 'l.response_time_ms::bigint',
  input_tokens: 'l.input_tokens::bigint',
  output_tokens: 'l.output_tokens::bigint',
  cost_usd: 'l.cost_usd',
  input_cost_usd: 'l.input_cost_usd',
};

/** Rollups of whole buckets that fromWholeSql reads: days (every column) or months (spend only). */
type WholeTable = 'usage_rollup_day' | 'usage_spend_month';

/**
 * SQL: rows (id, …columns) adding up to the usage of [:whole_from, :whole_to) with :whole_from at the
 * start of a bucket of `table` (a UTC day or month), from whole rows of it: the rows of its buckets up
 * to the end of the last (partial) one (:whole_end), less the events rolled up into that bucket at or
 * after :whole_to, plus its events not rolled up yet. For a window ending now both raw branches find
 * next to nothing, and no hour or minute row is read. Raw rows of :whole_to's bucket must be kept
 * (retention drops far older ones).
 */
function fromWholeSql(scope: Scope, columns: readonly string[], table: WholeTable = 'usage_rollup_day') {
  const col = SCOPE_COLUMN[scope];
  const raw = (sign: string) => columns.map((c) => `${sign}${RAW_VALUE[c]}`).join(', ');
  return `
    SELECT r.${col} AS id, ${columns.map((c) => `r.${c}`).join(', ')} FROM ${table} r
    WHERE (:every::boolean OR r.${col} = ANY(:ids::uuid[])) AND ${envFilter('r')}
      AND r.bucket >= :whole_from::timestamptz AND r.bucket < :whole_end::timestamptz
    UNION ALL
    SELECT l.${col}, ${raw('-')} FROM ai_usage_logs l
    WHERE l.${col} = ANY(:ids::uuid[]) AND ${envFilter('l')} AND l.id <= :cursor::bigint
      AND l.created_at >= :whole_to::timestamptz AND l.created_at < :whole_end::timestamptz
    UNION ALL
    SELECT l.${col}, ${raw('')} FROM ai_usage_logs l
    WHERE l.id > :cursor::bigint AND l.${col} = ANY(:ids::uuid[]) AND ${envFilter('l')}
      AND l.created_at >= :whole_from::timestamptz AND l.created_at < :whole_to::timestamptz`;
}

/**
 * sumsByScopeRead for a window ending now (only `columns`, no histogram) of many members that reads whole days from the
 * day rollup (fromWholeSql), including the window's last, partial day, and the rest from segmentsSql:
 * the window's part of its first day added, or when that is the larger part, the first day whole
 * (a day row) less what of it comes before the window. One statement; a 24 h read then takes at most
 * 12 hours of hour rows, not 23 (at 200 features the hour rows, spread over the rollup, were most of its cost).
 */
function sumsEndingNowRead(s: Snapshot, scope: Scope, ids: string[], w: Window, columns: readonly string[]): SumsRead {
  const firstDay = Math.floor(w.from.getTime() / DAY_MS) * DAY_MS;
  const lastDay = Math.floor((w.to.getTime() - 1) / DAY_MS) * DAY_MS;
  const lessBefore = w.from.getTime() - firstDay < firstDay + DAY_MS - w.from.getTime();
  // Few members probe the rollups' indexes, where a day row saves little and a longer statement costs planning.
  const many = ids.length >= READ_EVERY_FROM;
  const usable = many && w.endsNow && (lessBefore || w.from.getTime() <= lastDay) && columns.every((c) => c in RAW_VALUE);
  if (!usable) return sumsByScopeRead(s, scope, ids, w, columns);
  // The segments read: the first day before the window (subtracted), or the window before its last day (added).
  const seg = lessBefore ? { from: new Date(firstDay), to: w.from } : { from: w.from, to: new Date(lastDay) };
  const read = perMemberBindings(s, ids, seg);
  return {
    sql: `WITH ${segmentsSql(scope, columns)}
     SELECT id, ${sumsOf(columns)} FROM (
       SELECT ${SCOPE_COLUMN[scope]} AS id, ${columns.map((c) => (lessBefore ? `-${c} AS ${c}` : c)).join(', ')} FROM seg
       UNION ALL ${fromWholeSql(scope, columns)}
     ) x GROUP BY 1`,
    bindings: { ...read.bindings, ...wholeBindings(new Date(lessBefore ? firstDay : lastDay), w.to, dayEnd(w.to)) },
    keep: read.keep,
  };
}

/**
 * The exact percentiles of a LATERAL x (… AS p, an array of p50, p95 and p99) as three columns: pg parses
 * float8 columns several times faster than float8[] (a read of 200 members spent ~1 ms on the arrays).
 */
export const EXACT_COLUMNS = 'x.p[1] AS p50, x.p[2] AS p95, x.p[3] AS p99';

/** A row's EXACT_COLUMNS as [p50, p95, p99], null without them. */
export const exactOf = (r: Row): number[] | null =>
  r.p50 === null || r.p50 === undefined ? null : [Number(r.p50), Number(r.p95), Number(r.p99)];

/**
 * Sums of `columns` (which must include requests) per member over a window (sumsEndingNowRead: whole days when it
 * ends now) and, for each member with 1 to `exactUpTo` requests, its exact percentiles (p50, p95, p99) from raw rows: each member's
 * rows read by its own (member, created_at) index scan and sorted alone (with many members, no sort of every row
 * by member first). One statement, so the percentiles wait for no round trip after the sums.
 */
export async function sumsWithExactPercentiles(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  columns: readonly string[],
  exactUpTo: number,
): Promise<Map<string, { sums: Sums; exact: number[] | null }>> {
  if (!ids.length) return new Map();
  if (!columns.includes('requests')) throw new Error('sumsWithExactPercentiles: the columns must include requests');
  const read = sumsEndingNowRead(s, scope, ids, w, columns);
  const { rows } = await namedRaw(
    s.db,
    `WITH sums AS (${read.sql})
     SELECT sums.*, ${EXACT_COLUMNS} FROM sums LEFT JOIN LATERAL (
       SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS p
       FROM ai_usage_logs l
       WHERE sums.requests BETWEEN 1 AND :exact_up_to AND sums.id = ANY(:ids::uuid[])
         AND l.${SCOPE_COLUMN[scope]} = sums.id AND ${envFilter('l')}
         AND l.created_at >= :exact_from::timestamptz AND l.created_at < :exact_to::timestamptz) x ON true`,
    { ...read.bindings, exact_up_to: exactUpTo, exact_from: w.from.toISOString(), exact_to: w.to.toISOString() },
  );
  return new Map(read.keep(rows as Row[]).map((r) => [String(r.id), { sums: toSums(r), exact: exactOf(r) }]));
}

const wholeBindings = (from: Date, to: Date, end: Date) => ({
  whole_from: from.toISOString(),
  whole_to: to.toISOString(),
  whole_end: end.toISOString(),
});

/** The end of the UTC day `to` falls in (`to` itself on a boundary). */
const dayEnd = (to: Date) => new Date(Math.ceil(to.getTime() / DAY_MS) * DAY_MS);

/** Spend (USD) per member of a scope over [from, to) within one UTC month, `from` at its start, from the month's rows (fromWholeSql). */
export async function costByScopeFromMonth(s: Snapshot, scope: Scope, ids: string[], w: Window): Promise<Map<string, number>> {
  const end = new Date(Date.UTC(w.from.getUTCFullYear(), w.from.getUTCMonth() + 1, 1));
  if (w.from.getTime() !== Date.UTC(w.from.getUTCFullYear(), w.from.getUTCMonth(), 1) || w.to > end)
    throw new Error('costByScopeFromMonth: the window must start at the start of a UTC month and end within it');
  if (!ids.length) return new Map();
  const read = perMemberBindings(s, ids, w);
  const { rows } = await namedRaw(
    s.db,
    `SELECT id, coalesce(sum(cost_usd), 0) AS cost_usd FROM (${fromWholeSql(scope, ['cost_usd'], 'usage_spend_month')}) x GROUP BY 1`,
    { ...read.bindings, ...wholeBindings(w.from, w.to, end) },
  );
  return new Map(read.keep(rows as Row[]).map((r) => [String(r.id), Number(r.cost_usd)]));
}

/**
 * Whether the feature has a recorded event at or before `at`: in the raw rows, or in a whole day
 * of the day rollup that ends by then (rollups outlive raw rows). Two index probes.
 */
export async function recordedBy(s: Snapshot, featureId: string, at: Date): Promise<boolean> {
  const { rows } = await namedRaw(
    s.db,
    `SELECT EXISTS (SELECT 1 FROM ai_usage_logs l WHERE feature_id = :id AND ${envFilter('l')} AND created_at <= :at::timestamptz)
         OR EXISTS (SELECT 1 FROM usage_rollup_day r WHERE feature_id = :id AND ${envFilter('r')} AND bucket <= :at::timestamptz - interval '1 day') AS recorded`,
    { id: featureId, at: at.toISOString(), environment: s.environment },
  );
  return Boolean(rows[0]?.recorded);
}

export interface Breakdown {
  byBucket: Map<number, Sums>;
  byModel: Map<string, Sums>;
  /** Only when asked for: per prompt version (0: none), per chart bucket. */
  byVersion?: Map<number, Map<number, Sums>>;
}

/** Adds `s` into `into`. */
function addInto(into: Sums, s: Sums) {
  for (const k of ADDITIVE) into[k] += s[k];
  s.hist.forEach((c, i) => (into.hist[i] += c));
}
const ADDITIVE = [
  'requests',
  'successes',
  'errors',
  'timeouts',
  'latency_sum_ms',
  'cost_usd',
  'input_cost_usd',
  'input_tokens',
  'output_tokens',
] as const;

/** Adds `s` into the sums held under `key` (a copy of `s` when there are none yet). */
function addTo<K>(map: Map<K, Sums>, key: K, s: Sums) {
  const into = map.get(key);
  if (into) addInto(into, s);
  else map.set(key, { ...s, hist: [...s.hist] });
}

/** The sums of several sums. */
export function addSums(all: Iterable<Sums>): Sums {
  const total = toSums(undefined);
  for (const s of all) addInto(total, s);
  return total;
}

/**
 * One pass over the window's usage, grouped per chart bucket (epoch-aligned, UTC) and model (and
 * prompt version when `byVersion`), then added up here per bucket, per model and per version and
 * bucket: a plain grouping plans in a fraction of the time grouping sets take. Rollups coarser than
 * the chart bucket are left out.
 */
export async function breakdown(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  bucket: string,
  bucketMs: number,
  byVersion = false,
): Promise<Breakdown> {
  const { rows } = await namedRaw(
    s.db,
    `WITH ${segmentsSql(scope)}
     SELECT bucket, model_id, ${byVersion ? 'prompt_version' : '0 AS prompt_version'}, ${SUMS}
     FROM (SELECT seg.*, extract(epoch FROM date_bin(:bucket::interval, t, 'epoch'::timestamptz)) * 1000 AS bucket FROM seg) x
     GROUP BY 1, 2, 3`,
    { ...windowBindings(w, ids, s, bucketMs % 3_600_000 === 0, bucketMs % 86_400_000 === 0), bucket },
  );
  const result: Breakdown = { byBucket: new Map(), byModel: new Map(), ...(byVersion && { byVersion: new Map() }) };
  for (const r of rows as Row[]) {
    const sums = toSums(r);
    const at = Number(r.bucket);
    addTo(result.byBucket, at, sums);
    addTo(result.byModel, String(r.model_id), sums);
    if (!byVersion) continue;
    const version = Number(r.prompt_version);
    const buckets = result.byVersion!.get(version) ?? result.byVersion!.set(version, new Map()).get(version)!;
    addTo(buckets, at, sums);
  }
  return result;
}

/**
 * Requests per hour of the day in a time zone; hour rollups, and whole days as their UTC hours, only
 * when the zone's offset is whole hours (each UTC hour then lies in one local hour, DST days included).
 */
export async function requestsByLocalHour(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  timeZone: string,
  wholeHourZone: boolean,
): Promise<Map<number, number>> {
  const { rows } = await namedRaw(
    s.db,
    `WITH ${segmentsSql(scope, ['requests'], { dayHours: true })}
     SELECT extract(hour FROM t AT TIME ZONE :tz)::int AS hour, sum(requests)::bigint AS requests FROM seg GROUP BY 1`,
    { ...windowBindings(w, ids, s, wholeHourZone), tz: timeZone },
  );
  return new Map((rows as Row[]).map((r) => [Number(r.hour), Number(r.requests)]));
}

export interface ExactPercentiles {
  overall: number[] | null;
  byBucket: Map<number, number[]>;
}

/**
 * Exact percentiles (linear interpolation) from raw rows: overall and per chart bucket, and the same
 * per prompt version (0: none) when `byVersion`.
 */
export async function exactPercentiles(
  s: Snapshot,
  scope: Scope,
  ids: string[],
  w: Window,
  bucket: string,
  byVersion = false,
): Promise<ExactPercentiles & { byVersion?: Map<number, ExactPercentiles> }> {
  const col = SCOPE_COLUMN[scope];
  const { rows } = await namedRaw(
    s.db,
    `SELECT GROUPING(bucket) AS no_bucket, ${byVersion ? 'GROUPING(v) AS no_version, v' : '1 AS no_version'}, bucket,
            percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS p
     FROM (
       SELECT extract(epoch FROM date_bin(:bucket::interval, created_at, 'epoch'::timestamptz)) * 1000 AS bucket,
              coalesce(prompt_version, 0) AS v, response_time_ms
       FROM ai_usage_logs l WHERE ${col} = ANY(:ids::uuid[]) AND ${envFilter('l')} AND created_at >= :from AND created_at < :to
     ) x
     GROUP BY GROUPING SETS ((bucket), ()${byVersion ? ', (v, bucket), (v)' : ''})`,
    { ...windowBindings(w, ids, s), bucket },
  );
  type PRow = { no_bucket: number; no_version: number; bucket: number | null; v: number | null; p: number[] };
  const of = (list: PRow[]): ExactPercentiles => ({
    overall: list.find((r) => Number(r.no_bucket) === 1)?.p ?? null,
    byBucket: new Map(list.filter((r) => Number(r.no_bucket) === 0).map((r) => [Number(r.bucket), r.p])),
  });
  const all = rows as PRow[];
  const result = of(all.filter((r) => Number(r.no_version) === 1));
  if (!byVersion) return result;
  const versions = [...new Set(all.filter((r) => Number(r.no_version) === 0).map((r) => Number(r.v)))];
  return {
    ...result,
    byVersion: new Map(versions.map((v) => [v, of(all.filter((r) => Number(r.no_version) === 0 && Number(r.v) === v))])),
  };
}

/**
 * Bad minutes per member over a window (in the snapshot's environment), each with its own error-rate
 * threshold (%): SPEC §4, a minute with requests is bad when the lower bound of the 95% Wilson interval of its error rate reaches the threshold.
 */
export async function badMinutes(
  s: Snapshot,
  scope: Scope,
  thresholds: { id: string; threshold: number }[],
  w: Window,
): Promise<Map<string, number>> {
  const bad = new Map(thresholds.map((t) => [t.id, 0]));
  for (const r of await badMinuteRows(s, scope, thresholds, w, false)) bad.set(r.id, (bad.get(r.id) ?? 0) + r.bad);
  return bad;
}

/** Bad minutes per member and UTC hour of a window (hours without a bad minute are left out). */
export async function badMinutesByHour(
  s: Snapshot,
  scope: Scope,
  thresholds: { id: string; threshold: number }[],
  w: Window,
): Promise<{ id: string; hour: number; bad: number }[]> {
  return badMinuteRows(s, scope, thresholds, w, true) as Promise<{ id: string; hour: number; bad: number }[]>;
}

async function badMinuteRows(
  s: Snapshot,
  scope: Scope,
  thresholds: { id: string; threshold: number }[],
  w: Window,
  byHour: boolean,
): Promise<{ id: string; hour?: number; bad: number }[]> {
  if (!thresholds.length) return [];
  // Grouped by member, or by member and hour (the hour of a minute is that of its hourly array).
  const hourOf = (expr: string) => (byHour ? `, date_trunc('hour', ${expr}) AS hour` : '');
  const col = SCOPE_COLUMN[scope];
  const { rows } = await namedRaw(
    s.db,
    `WITH th AS (SELECT id, round(threshold * 100)::bigint AS basis_points FROM jsonb_to_recordset(:thresholds::jsonb) AS x(id uuid, threshold numeric)),
     -- Minutes the hourly arrays cannot answer alone: partial edge minutes, and rows not rolled up yet.
     raw AS (
       SELECT l.${col} AS scope_id, l.created_at, l.status FROM ai_usage_logs l
       WHERE l.${col} = ANY(:ids::uuid[]) AND ${envFilter('l')} AND l.created_at >= :from::timestamptz AND l.created_at < :m_from::timestamptz
       UNION ALL
       SELECT l.${col}, l.created_at, l.status FROM ai_usage_logs l
       WHERE l.${col} = ANY(:ids::uuid[]) AND ${envFilter('l')}
         AND l.created_at >= greatest(:m_to::timestamptz, :m_from::timestamptz) AND l.created_at < :to::timestamptz
       UNION ALL
       SELECT l.${col}, l.created_at, l.status FROM ai_usage_logs l
       WHERE l.id > :cursor::bigint AND l.${col} = ANY(:ids::uuid[]) AND ${envFilter('l')}
         AND l.created_at >= :m_from::timestamptz AND l.created_at < :m_to::timestamptz
     ),
     tail AS (
       SELECT scope_id, date_trunc('minute', created_at) AS m, count(*) AS r, count(*) FILTER (WHERE status <> 'success') AS f
       FROM raw GROUP BY 1, 2
     ),
     -- The hours read: those not whole (their minutes are counted one by one below) and the whole ones that have a
     -- bad minute (worst_bp, the highest bound, at or over the threshold): a whole hour under it has none, so it
     -- is left out before its arrays are kept (most of a long window's hours at a usual threshold).
     hrs AS (
       SELECT * FROM (
         SELECT c.scope_id, c.hour, c.requests, c.failures, c.minute_bps, th.basis_points, c.worst_bp >= th.basis_points AS over,
                c.hour >= :m_from::timestamptz AND c.hour + interval '1 hour' <= :m_to::timestamptz
                AND NOT EXISTS (SELECT 1 FROM tail t WHERE t.scope_id = c.scope_id AND t.m >= c.hour AND t.m < c.hour + interval '1 hour') AS whole
         FROM usage_minute_counts c JOIN th ON th.id = c.scope_id
         WHERE c.scope = :scope AND c.scope_id = ANY(:ids::uuid[]) AND :environment::text IS NULL
           AND c.hour > :m_from::timestamptz - interval '1 hour' AND c.hour < :m_to::timestamptz
       ) c WHERE c.over OR NOT c.whole
     ),
     -- Whole hours: minutes whose Wilson lower bound is at or over the threshold, by binary search
     -- in the hour's sorted bounds (minute_bps); the other minutes apply the same rule to their counts.
     whole AS (
       SELECT h.scope_id${hourOf('h.hour')}, sum(cardinality(h.minute_bps) - width_bucket((h.basis_points - 1)::integer, h.minute_bps)) AS bad
       FROM hrs h
       WHERE h.whole AND h.over
       GROUP BY 1${byHour ? ', 2' : ''}
     ),
     mixed AS (
       SELECT scope_id, m, sum(r) AS r, sum(f) AS f FROM (
         SELECT h.scope_id, h.hour + (u.i - 1) * interval '1 minute' AS m, u.r, u.f
         FROM hrs h, unnest(h.requests, h.failures) WITH ORDINALITY AS u(r, f, i)
         WHERE NOT h.whole AND h.hour + (u.i - 1) * interval '1 minute' >= :m_from::timestamptz
           AND h.hour + (u.i - 1) * interval '1 minute' < :m_to::timestamptz
         UNION ALL
         -- One environment: the hourly arrays count every environment, so its rolled-up minutes come from the minute rollup.
         SELECT r.${col}, r.bucket, r.requests, r.errors + r.timeouts FROM usage_rollup_minute r
         WHERE :environment::text IS NOT NULL AND r.${col} = ANY(:ids::uuid[]) AND r.environment = :environment::text
           AND r.bucket >= :m_from::timestamptz AND r.bucket < :m_to::timestamptz
         UNION ALL
         SELECT scope_id, m, r, f FROM tail
       ) x GROUP BY 1, 2
     ),
     mixed_bad AS (
       SELECT x.scope_id${hourOf('x.m')}, count(*) AS bad FROM mixed x JOIN th ON th.id = x.scope_id
       WHERE x.r > 0 AND wilson_lower_bp(x.r::bigint, x.f::bigint) >= th.basis_points GROUP BY 1${byHour ? ', 2' : ''}
     )
     SELECT scope_id AS id${byHour ? ', extract(epoch FROM hour) * 1000 AS hour' : ''}, sum(bad) AS bad
     FROM (SELECT * FROM whole UNION ALL SELECT * FROM mixed_bad) b GROUP BY 1${byHour ? ', 2' : ''}`,
    {
      ...windowBindings(
        w,
        thresholds.map((t) => t.id),
        s,
      ),
      scope,
      thresholds: JSON.stringify(thresholds),
    },
  );
  return (rows as { id: string; hour?: number; bad: number }[]).map((r) => ({
    id: String(r.id),
    bad: Number(r.bad),
    ...(byHour && { hour: Number(r.hour) }),
  }));
}

/** The newest usage event's id (0 without any): what a page shows is current as of it. One index probe per partition. */
export async function latestEventId(db: Db): Promise<number> {
  const { rows } = await namedRaw(db, 'SELECT coalesce(max(id), 0) AS id FROM ai_usage_logs');
  return Number(rows[0].id);
}

/**
 * Whether a feature has an event in one environment (null: any) with an id past `since`: the live check. It reads
 * rows past `since` only (the primary key leads with id) and stops at the first match, so it costs an
 * index probe when nothing changed, whatever the table's size.
 */
export async function hasEventsSince(db: Db, featureId: string, environment: Environment | null, since: number): Promise<boolean> {
  const { rows } = await namedRaw(
    db,
    `SELECT EXISTS (SELECT 1 FROM ai_usage_logs l WHERE id > :since::bigint AND feature_id = :id AND ${envFilter('l')}) AS changed`,
    { since, id: featureId, environment },
  );
  return Boolean(rows[0].changed);
}
