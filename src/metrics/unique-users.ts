import type { Db } from '../db/knex.ts';
import { uuidArray } from './queries.ts';
import type { Window } from './ranges.ts';
import type { ReadScope } from './segments.ts';
import { GRAINS_MS, hashSql, pairsSql, Registers, tiling } from './user-sketch.ts';

/** A window with at most this many raw rows counts its users exactly from them (cheaper than the sketches, and exact). */
export const EXACT_USERS_UP_TO = 200;
/** Sketches read or written per statement. */
const CHUNK = 5000;
const MINUTE = 60_000;

/** SQL: per feature, the register pairs of the raw rows `rowsSql` (feature_id, end_user_id). */
const registersSql = (rowsSql: string) => `
  SELECT feature_id, ${pairsSql('h')} AS regs FROM (SELECT r.feature_id, ${hashSql('r')} AS h FROM (${rowsSql}) r) x GROUP BY 1`;

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

/** What the fold statement (foldRowsSql) returns per feature and minute. */
export interface FoldedMinute {
  feature_id: string;
  /** The minute, epoch ms. */
  t: number;
  rows: number;
  /** Its users' register pairs (null: no row named a user). */
  pairs: Buffer | null;
}

/**
 * Adds the users of the minutes just folded to the sketches of every grain: merged here with the
 * stored sketches they touch (a register only grows, so folding a row twice changes nothing).
 * `fresh`: the caller has deleted every sketch these rows touch (a rebuild), so none is read.
 */
export async function foldUserSketches(db: Db, minutes: FoldedMinute[], fresh = false): Promise<void> {
  const touched = new Map<string, { key: SketchKey; regs: Registers }>();
  for (const r of minutes) {
    if (!r.pairs) continue;
    const minute = Registers.fromPairs(r.pairs);
    for (const grainMs of GRAINS_MS) {
      const key = { featureId: r.feature_id, grainMs, start: Math.floor(r.t / grainMs) * grainMs };
      const id = keyOf(key);
      const into = touched.get(id);
      if (into) into.regs.merge(minute);
      else touched.set(id, { key, regs: grainMs === MINUTE ? minute : new Registers().merge(minute) });
    }
  }
  const entries = [...touched.values()];
  const stored = fresh
    ? new Map<string, Registers>()
    : await loadSketches(
        db,
        entries.map((e) => e.key),
      );
  for (let i = 0; i < entries.length; i += CHUNK) {
    const chunk = entries.slice(i, i + CHUNK);
    // The sketches travel as one binary parameter (a bytea[] would go as hex text), cut by length here.
    const blobs = chunk.map((e) => (stored.get(keyOf(e.key))?.merge(e.regs) ?? e.regs).encode());
    let at = 1;
    const starts = blobs.map((b) => {
      at += b.length;
      return at - b.length;
    });
    await db.raw(
      `INSERT INTO usage_user_sketches (feature_id, grain_ms, bucket, registers)
       SELECT k.feature_id, k.grain_ms, k.bucket, substring(?::bytea FROM k.at::int FOR k.len::int)
       FROM unnest(?::uuid[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[]) AS k(feature_id, grain_ms, bucket, at, len)
       ON CONFLICT (feature_id, grain_ms, bucket) DO UPDATE SET registers = excluded.registers`,
      [
        Buffer.concat(blobs),
        chunk.map((e) => e.key.featureId),
        chunk.map((e) => e.key.grainMs),
        chunk.map((e) => new Date(e.key.start).toISOString()),
        starts,
        blobs.map((b) => b.length),
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
 * minutes, merged with the registers of the raw rows in its partial first minute and of the rows not
 * rolled up yet. Cost: a bounded raw probe, a few dozen sketches and the first minute's raw rows.
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
         -- In index order, so it stops at the limit.
         SELECT end_user_id FROM ai_usage_logs WHERE feature_id = f.id AND created_at >= :from::timestamptz AND created_at < :to::timestamptz
         ORDER BY created_at LIMIT :limit
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
  // Events are never later than now (ingestion refuses them), so the minute holding the window's
  // end is read whole from its sketch: only the partial first minute comes from raw rows.
  const first = Math.ceil(w.from.getTime() / MINUTE) * MINUTE;
  const last = Math.max(first, Math.ceil(w.to.getTime() / MINUTE) * MINUTE);
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
    SELECT feature_id, end_user_id FROM ai_usage_logs WHERE id > :cursor::bigint AND feature_id = ANY(:ids::uuid[])
      AND created_at >= :first::timestamptz AND created_at < :to::timestamptz`;
  const { rows: raw } = await s.db.raw(registersSql(edges), {
    ids: uuidArray(busy),
    from,
    to,
    first: new Date(first).toISOString(),
    cursor: s.cursor,
  });
  for (const r of raw as { feature_id: string; regs: Buffer }[]) merged.get(r.feature_id)!.merge(Registers.fromPairs(r.regs));
  for (const [id, regs] of merged) out.set(id, { count: regs.estimate(), estimated: true });
  return out;
}
