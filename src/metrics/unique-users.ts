import type { Db } from '../db/knex.ts';
import { namedRaw } from '../db/named-statement.ts';
import { uuidArray } from './queries.ts';
import type { Window } from './ranges.ts';
import type { ReadScope } from './segments.ts';
import { GRAINS_MS, hashesSql, hashSql, tiling, UserSketch } from './user-sketch.ts';

/** Sketches read or written per statement. */
const CHUNK = 5000;
const MINUTE = 60_000;

/** SQL: per feature, the users' hashes of the raw rows `rowsSql` (feature_id, end_user_id). */
const hashesOf = (rowsSql: string) => `
  SELECT feature_id, ${hashesSql('h')} AS hashes FROM (SELECT r.feature_id, ${hashSql('r')} AS h FROM (${rowsSql}) r) x GROUP BY 1`;

interface SketchKey {
  featureId: string;
  grainMs: number;
  start: number;
}
const keyOf = (k: SketchKey) => `${k.featureId}|${k.grainMs}|${k.start}`;

/**
 * The sketches this process stored or read lately in folds (at most FOLDED_MAX, ≤ 16 MiB; the least
 * recently used go first), by key, as stored, with their version: the row's xmin, the transaction
 * that wrote it. Each minute of traffic touches a few 16 KiB sketches per feature (its 10-minute,
 * hour, 6-hour and day buckets): a fold reads back only those whose stored version is not the one
 * held here (written since by another instance or a rebuild, deleted, or never committed), instead
 * of fetching every one of them each tick.
 */
const folded = new Map<string, { version: string; registers: Buffer }>();
const FOLDED_MAX = 1024;

function keep(id: string, version: string, registers: Buffer) {
  folded.delete(id);
  folded.set(id, { version, registers });
  if (folded.size > FOLDED_MAX) folded.delete(folded.keys().next().value!);
}

interface Stored {
  version: string;
  registers: Buffer;
  /** Decoded from registers: free to merge into. */
  sketch: UserSketch;
}

/** The stored sketches of these keys, by key, with their versions. */
async function loadSketches(db: Db, keys: SketchKey[]): Promise<Map<string, Stored>> {
  const out = new Map<string, Stored>();
  for (let i = 0; i < keys.length; i += CHUNK) {
    const chunk = keys.slice(i, i + CHUNK);
    const held = chunk.map((k) => folded.get(keyOf(k)));
    const { rows } = await namedRaw(
      db,
      `SELECT k.i, s.xmin::text AS version, CASE WHEN s.xmin::text <> k.held THEN s.registers END AS registers
       FROM unnest(?::uuid[], ?::int[], ?::timestamptz[], ?::text[]) WITH ORDINALITY AS k(feature_id, grain_ms, bucket, held, i)
       JOIN usage_user_sketches s USING (feature_id, grain_ms, bucket)`,
      [
        chunk.map((k) => k.featureId),
        chunk.map((k) => k.grainMs),
        chunk.map((k) => new Date(k.start).toISOString()),
        held.map((h) => h?.version ?? ''),
      ],
    );
    for (const r of rows as { i: string; version: string; registers: Buffer | null }[]) {
      const at = Number(r.i) - 1;
      const registers = r.registers ?? held[at]!.registers;
      out.set(keyOf(chunk[at]), { version: r.version, registers, sketch: UserSketch.decode(registers) });
    }
  }
  return out;
}

/** What the fold statement (foldRowsSql) returns per feature and minute. */
export interface FoldedMinute {
  feature_id: string;
  /** The minute, epoch ms. */
  t: number;
  rows: number;
  /** Its users' hashes, as hashesSql aggregates them, in base64 (null: no row named a user). */
  hashes: string | null;
}

/**
 * Adds the users of the minutes just folded to the sketches of every grain: merged here with the
 * stored sketches they touch (a register only grows, so folding a row twice changes nothing).
 * `fresh`: the caller has deleted every sketch these rows touch (a rebuild), so none is read.
 */
export async function foldUserSketches(db: Db, minutes: FoldedMinute[], fresh = false): Promise<void> {
  const touched = new Map<string, { key: SketchKey; sketch: UserSketch }>();
  for (const r of minutes) {
    if (!r.hashes) continue;
    const minute = UserSketch.decode(Buffer.from(r.hashes, 'base64'));
    for (const grainMs of GRAINS_MS) {
      const key = { featureId: r.feature_id, grainMs, start: Math.floor(r.t / grainMs) * grainMs };
      const id = keyOf(key);
      const into = touched.get(id);
      if (into) into.sketch.merge(minute);
      else touched.set(id, { key, sketch: grainMs === MINUTE ? minute : new UserSketch().merge(minute) });
    }
  }
  const stored = fresh
    ? new Map<string, Stored>()
    : await loadSketches(
        db,
        [...touched.values()].map((e) => e.key),
      );
  // Only the sketches the fold changed are written (a day's sketch of a busy feature mostly stays as it is).
  const entries: { id: string; key: SketchKey; sketch: UserSketch }[] = [];
  for (const [id, e] of touched) {
    const before = stored.get(id);
    if (!before) entries.push({ id, key: e.key, sketch: e.sketch });
    else if (before.sketch.grows(e.sketch)) entries.push({ id, key: e.key, sketch: before.sketch });
    else keep(id, before.version, before.registers);
  }
  for (let i = 0; i < entries.length; i += CHUNK) {
    const chunk = entries.slice(i, i + CHUNK);
    // The sketches travel as one binary parameter (a bytea[] would go as hex text), cut by length here.
    const blobs = chunk.map((e) => e.sketch.encode());
    let at = 1;
    const starts = blobs.map((b) => {
      at += b.length;
      return at - b.length;
    });
    const { rows } = await namedRaw(
      db,
      `INSERT INTO usage_user_sketches (feature_id, grain_ms, bucket, registers)
       SELECT k.feature_id, k.grain_ms, k.bucket, substring(?::bytea FROM k.at::int FOR k.len::int)
       FROM unnest(?::uuid[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[]) AS k(feature_id, grain_ms, bucket, at, len)
       ON CONFLICT (feature_id, grain_ms, bucket) DO UPDATE SET registers = excluded.registers
       RETURNING xmin::text AS version`,
      [
        Buffer.concat(blobs),
        chunk.map((e) => e.key.featureId),
        chunk.map((e) => e.key.grainMs),
        chunk.map((e) => new Date(e.key.start).toISOString()),
        starts,
        blobs.map((b) => b.length),
      ],
    );
    // Every row is written by this transaction: one version.
    chunk.forEach((e, j) => keep(e.id, rows[0].version, blobs[j]));
  }
}

/**
 * Sketches read lately (at most RECENT_MAX, the least recently used go first), by key, with the
 * version they were read at: the row's xmin, the transaction that wrote it (every fold that changes a
 * sketch writes a new row version). A sketch whose stored version is the one held here is not sent
 * again: a dashboard read every few seconds then fetches only the sketches folded into since (a 30-day
 * window holds ~30 sketches of 16 KiB, most of its time when sent as hex text each read).
 */
const recent = new Map<string, { version: string; registers: Buffer }>();
const RECENT_MAX = 1024;

/** The stored sketches of these keys that exist, as of the reader's snapshot. */
async function readSketches(db: Db, keys: SketchKey[]): Promise<{ featureId: string; registers: Buffer }[]> {
  // What is held now: other reads may replace or evict entries while this one waits.
  const held = keys.map((k) => recent.get(keyOf(k)));
  const { rows } = await namedRaw(
    db,
    `SELECT s.feature_id, k.i, s.xmin::text AS version, CASE WHEN s.xmin::text <> k.known THEN s.registers END AS registers
     FROM unnest(?::uuid[], ?::int[], ?::timestamptz[], ?::text[]) WITH ORDINALITY AS k(feature_id, grain_ms, bucket, known, i)
     JOIN usage_user_sketches s USING (feature_id, grain_ms, bucket)`,
    [
      keys.map((k) => k.featureId),
      keys.map((k) => k.grainMs),
      keys.map((k) => new Date(k.start).toISOString()),
      held.map((h) => h?.version ?? ''),
    ],
  );
  return (rows as { feature_id: string; i: string; version: string; registers: Buffer | null }[]).map((r) => {
    const at = Number(r.i) - 1;
    const id = keyOf(keys[at]);
    const registers = r.registers ?? held[at]!.registers;
    recent.delete(id);
    recent.set(id, { version: r.version, registers });
    if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!);
    return { featureId: r.feature_id, registers };
  });
}

export interface UniqueUsers {
  count: number;
  /** Estimated (more than SET_MAX users: within 2% of exact), not counted exactly. */
  estimated: boolean;
}

/**
 * Distinct end users of each feature in a window (every environment): the sketches tiling its
 * minutes, merged with the users of the raw rows in its partial first minute and of the rows not
 * rolled up yet. Exact up to SET_MAX users, estimated past them. Events are never later than now
 * (ingestion refuses them), so the minute holding the window's end is read whole from its sketch.
 */
export async function uniqueUsers(s: { db: Db } & ReadScope, featureIds: string[], w: Window): Promise<Map<string, UniqueUsers>> {
  if (!featureIds.length) return new Map();
  const ids = uuidArray(featureIds);
  const first = Math.ceil(w.from.getTime() / MINUTE) * MINUTE;
  const buckets = tiling(first, Math.max(first, Math.ceil(w.to.getTime() / MINUTE) * MINUTE));
  const merged = new Map(featureIds.map((id) => [id, new UserSketch()]));
  const keys = featureIds.flatMap((featureId) => buckets.map((b) => ({ featureId, grainMs: b.grainMs, start: b.start })));
  for (const r of await readSketches(s.db, keys)) merged.get(r.featureId)!.absorb(r.registers);
  const { rows: raw } = await namedRaw(
    s.db,
    hashesOf(`
      SELECT feature_id, end_user_id FROM ai_usage_logs
      WHERE feature_id = ANY(:ids::uuid[]) AND created_at >= :from::timestamptz AND created_at < :first::timestamptz
      UNION ALL
      SELECT feature_id, end_user_id FROM ai_usage_logs WHERE id > :cursor::bigint AND feature_id = ANY(:ids::uuid[])
        AND created_at >= :first::timestamptz AND created_at < :to::timestamptz`),
    { ids, from: w.from.toISOString(), to: w.to.toISOString(), first: new Date(first).toISOString(), cursor: s.cursor },
  );
  for (const r of raw as { feature_id: string; hashes: Buffer }[]) merged.get(r.feature_id)!.absorb(r.hashes);
  return new Map([...merged].map(([id, sketch]) => [id, { count: sketch.estimate(), estimated: !sketch.exact }]));
}
