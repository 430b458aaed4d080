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
 * Sketches this process read or wrote lately, by key, as stored, with their version: the row's xmin,
 * the transaction that wrote it (every change to a sketch writes a new row version). At most `max`
 * (≤ 16 KiB each), the least recently used go first.
 */
class StoredSketches {
  private readonly byKey = new Map<string, { version: string; registers: Buffer }>();
  constructor(private readonly max: number) {}

  keep(id: string, version: string, registers: Buffer) {
    this.byKey.delete(id);
    this.byKey.set(id, { version, registers });
    if (this.byKey.size > this.max) this.byKey.delete(this.byKey.keys().next().value!);
  }

  /**
   * The stored sketches of these keys that exist, as of db's snapshot, each kept here: a sketch whose
   * stored version is the one held is not sent again.
   */
  async read(db: Db, keys: SketchKey[]): Promise<{ key: SketchKey; version: string; registers: Buffer }[]> {
    const out: { key: SketchKey; version: string; registers: Buffer }[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      // What is held now: other reads may replace or evict entries while this one waits.
      const held = chunk.map((k) => this.byKey.get(keyOf(k)));
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
        const stored = { key: chunk[at], version: r.version, registers: r.registers ?? held[at]!.registers };
        this.keep(keyOf(stored.key), stored.version, stored.registers);
        out.push(stored);
      }
    }
    return out;
  }
}

/**
 * The folds' sketches. Each minute of traffic touches a few 16 KiB sketches per feature (its 10-minute,
 * hour, 6-hour and day buckets): a fold reads back only those written since by another instance or a
 * rebuild (or deleted, or written by a fold that did not commit), instead of every one of them each tick.
 */
const folded = new StoredSketches(1024);

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
  // Decoded (a copy of what is kept): free to merge into.
  const stored = new Map(
    (fresh
      ? []
      : await folded.read(
          db,
          [...touched.values()].map((e) => e.key),
        )
    ).map((s) => [keyOf(s.key), UserSketch.decode(s.registers)]),
  );
  // Only the sketches the fold changed are written (a day's sketch of a busy feature mostly stays as it is).
  const entries: { id: string; key: SketchKey; sketch: UserSketch }[] = [];
  for (const [id, e] of touched) {
    const before = stored.get(id);
    if (!before) entries.push({ id, key: e.key, sketch: e.sketch });
    else if (before.grows(e.sketch)) entries.push({ id, key: e.key, sketch: before });
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
    chunk.forEach((e, j) => folded.keep(e.id, rows[0].version, blobs[j]));
  }
}

/**
 * The dashboards' sketches: a read every few seconds fetches only the sketches folded into since (a
 * 30-day window holds ~30 sketches of 16 KiB, most of its time when sent as hex text each read).
 */
const recent = new StoredSketches(1024);

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
  for (const r of await recent.read(s.db, keys)) merged.get(r.key.featureId)!.absorb(r.registers);
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
