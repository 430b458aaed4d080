import type { Db } from '../db/knex.ts';
import { uuidArray } from './queries.ts';
import type { Window } from './ranges.ts';
import type { ReadScope } from './segments.ts';
import { GRAINS_MS, hashSql, PAIRS_SQL, REGISTER_SQL, Registers, tiling } from './user-sketch.ts';

/** A window with at most this many raw rows counts its users exactly from them (cheaper than the sketches, and exact). */
export const EXACT_USERS_UP_TO = 1000;
/** Sketches read or written per statement. */
const CHUNK = 5000;
const MINUTE = 60_000;

/** SQL: per feature (and minute when `byMinute`), the registers of the raw rows `rowsSql` (as l), as sparse pairs. */
function registersSql(rowsSql: string, byMinute: boolean): string {
  const t = byMinute ? ', t' : '';
  const minute = byMinute ? ", (extract(epoch FROM date_trunc('minute', l.created_at)) * 1000)::float8 AS t" : '';
  return `
    SELECT feature_id${t}, ${PAIRS_SQL} AS regs FROM (
      SELECT feature_id${t}, idx, max(rho) AS rho FROM (
        SELECT feature_id${t}, ${REGISTER_SQL} FROM (
          SELECT l.feature_id${minute}, ${hashSql('l')} AS h FROM (${rowsSql}) l WHERE l.end_user_id IS NOT NULL
        ) hashed
      ) x GROUP BY feature_id${t}, idx
    ) y GROUP BY feature_id${t}`;
}

interface SketchKey {
  featureId: string;
  grainMs: number;
  start: number;
}
const keyOf = (k: SketchKey) => `${k.featureId}|${k.grainMs}|${k.start}`;

/** The stored sketches of these keys, by key. */
async function loadSketches(db: Db, keys: SketchKey[]): Promise<Map<string, Registers>> {
  const out = new Map<string, Registers>();
  for (let i = 0; i < keys.length; i += CHUNK) {
    const chunk = keys.slice(i, i + CHUNK);
    const { rows } = await db.raw(
      `SELECT s.feature_id, s.grain_ms, (extract(epoch FROM s.bucket) * 1000)::float8 AS t, s.registers
       FROM unnest(?::uuid[], ?::int[], ?::timestamptz[]) AS k(feature_id, grain_ms, bucket)
       JOIN usage_user_sketches s USING (feature_id, grain_ms, bucket)`,
      [chunk.map((k) => k.featureId), chunk.map((k) => k.grainMs), chunk.map((k) => new Date(k.start).toISOString())],
    );
    for (const r of rows as { feature_id: string; grain_ms: number; t: number; registers: Buffer }[])
      out.set(keyOf({ featureId: r.feature_id, grainMs: r.grain_ms, start: r.t }), Registers.decode(r.registers));
  }
  return out;
}

/**
 * Folds the users of the raw rows chosen by `where` (over ai_usage_logs l, with `bindings`) into the
 * sketches of every grain: register maxima per feature and minute in SQL, merged here with the
 * stored sketches they touch (a register only grows, so folding a row twice changes nothing).
 */
export async function foldUserSketches(db: Db, where: string, bindings: Record<string, unknown>): Promise<void> {
  const { rows } = await db.raw(registersSql(`SELECT * FROM ai_usage_logs l WHERE ${where}`, true), bindings);
  const fresh = new Map<string, { key: SketchKey; regs: Registers }>();
  for (const r of rows as { feature_id: string; t: number; regs: Buffer }[]) {
    const minute = Registers.fromPairs(r.regs);
    for (const grainMs of GRAINS_MS) {
      const key = { featureId: r.feature_id, grainMs, start: Math.floor(r.t / grainMs) * grainMs };
      const id = keyOf(key);
      const into = fresh.get(id);
      if (into) into.regs.merge(minute);
      else fresh.set(id, { key, regs: grainMs === MINUTE ? minute : new Registers().merge(minute) });
    }
  }
  const entries = [...fresh.values()];
  const stored = await loadSketches(
    db,
    entries.map((e) => e.key),
  );
  for (let i = 0; i < entries.length; i += CHUNK) {
    const chunk = entries.slice(i, i + CHUNK);
    await db.raw(
      `INSERT INTO usage_user_sketches (feature_id, grain_ms, bucket, registers)
       SELECT * FROM unnest(?::uuid[], ?::int[], ?::timestamptz[], ?::bytea[])
       ON CONFLICT (feature_id, grain_ms, bucket) DO UPDATE SET registers = excluded.registers`,
      [
        chunk.map((e) => e.key.featureId),
        chunk.map((e) => e.key.grainMs),
        chunk.map((e) => new Date(e.key.start).toISOString()),
        chunk.map((e) => (stored.get(keyOf(e.key))?.merge(e.regs) ?? e.regs).encode()),
      ],
    );
  }
}

export interface UniqueUsers {
  count: number;
  /** From the sketches (within 2% of exact), not counted from raw rows. */
  estimated: boolean;
}

/**
 * Distinct end users of each feature in a window (every environment). Exact from the raw rows when
 * the window holds at most EXACT_USERS_UP_TO of them; otherwise estimated: the sketches tiling its
 * whole minutes, merged with the registers of the raw rows in its partial edge minutes and of the
 * rows not rolled up yet. Cost: a bounded raw probe, a few dozen sketches and the edges' raw rows.
 */
export async function uniqueUsers(s: { db: Db } & ReadScope, featureIds: string[], w: Window): Promise<Map<string, UniqueUsers>> {
  const out = new Map<string, UniqueUsers>();
  if (!featureIds.length) return out;
  const from = w.from.toISOString();
  const to = w.to.toISOString();
  const ids = uuidArray(featureIds);
  const { rows: exact } = await s.db.raw(
    `SELECT f.id, x.n, x.users FROM unnest(:ids::uuid[]) AS f(id), LATERAL (
       SELECT count(*)::int AS n, count(DISTINCT end_user_id)::int AS users FROM (
         SELECT end_user_id FROM ai_usage_logs WHERE feature_id = f.id AND created_at >= :from::timestamptz AND created_at < :to::timestamptz
         LIMIT :limit
       ) y
     ) x`,
    { ids, from, to, limit: EXACT_USERS_UP_TO + 1 },
  );
  const busy: string[] = [];
  for (const r of exact as { id: string; n: number; users: number }[]) {
    if (r.n <= EXACT_USERS_UP_TO) out.set(r.id, { count: r.users, estimated: false });
    else busy.push(r.id);
  }
  if (!busy.length) return out;
  const first = Math.ceil(w.from.getTime() / MINUTE) * MINUTE;
  const last = Math.max(first, Math.floor(w.to.getTime() / MINUTE) * MINUTE);
  const buckets = tiling(first, last);
  const merged = new Map(busy.map((id) => [id, new Registers()]));
  const { rows: sketches } = await s.db.raw(
    `SELECT s.feature_id, s.registers FROM unnest(:grains::int[], :starts::timestamptz[]) AS k(grain_ms, bucket)
     JOIN usage_user_sketches s USING (grain_ms, bucket) WHERE s.feature_id = ANY(:ids::uuid[])`,
    {
      grains: `{${buckets.map((b) => b.grainMs).join(',')}}`,
      starts: `{${buckets.map((b) => new Date(b.start).toISOString()).join(',')}}`,
      ids: uuidArray(busy),
    },
  );
  for (const r of sketches as { feature_id: string; registers: Buffer }[]) merged.get(r.feature_id)!.merge(Registers.decode(r.registers));
  const edges = `
    SELECT feature_id, end_user_id FROM ai_usage_logs
    WHERE feature_id = ANY(:ids::uuid[]) AND created_at >= :from::timestamptz AND created_at < :first::timestamptz
    UNION ALL
    SELECT feature_id, end_user_id FROM ai_usage_logs
    WHERE feature_id = ANY(:ids::uuid[]) AND created_at >= :last::timestamptz AND created_at < :to::timestamptz
    UNION ALL
    SELECT feature_id, end_user_id FROM ai_usage_logs WHERE id > :cursor::bigint AND feature_id = ANY(:ids::uuid[])
      AND created_at >= :first::timestamptz AND created_at < :last::timestamptz`;
  const { rows: raw } = await s.db.raw(registersSql(edges, false), {
    ids: uuidArray(busy),
    from,
    to,
    first: new Date(first).toISOString(),
    last: new Date(last).toISOString(),
    cursor: s.cursor,
  });
  for (const r of raw as { feature_id: string; regs: Buffer }[]) merged.get(r.feature_id)!.merge(Registers.fromPairs(r.regs));
  for (const [id, regs] of merged) out.set(id, { count: regs.estimate(), estimated: true });
  return out;
}
