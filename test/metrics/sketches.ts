import type { Db } from '../../src/db/knex.ts';
import { M, UserSketch } from '../../src/metrics/user-sketch.ts';

/** A sketch as comparable text: its registers, or its users' hashes in order (however they were stored). */
export function canonicalSketch(buf: Buffer): string {
  const stored = UserSketch.decode(buf).encode();
  if (stored.length === M) return stored.toString('hex');
  const hashes: string[] = [];
  for (let at = 0; at < stored.length; at += 8) hashes.push(stored.subarray(at, at + 8).toString('hex'));
  return hashes.sort().join(' ');
}

/** Every stored sketch by feature|grain|bucket start (epoch ms). */
export async function storedSketches(db: Db): Promise<Record<string, string>> {
  const rows = await db('usage_user_sketches').select('*');
  return Object.fromEntries(rows.map((r) => [`${r.feature_id}|${r.grain_ms}|${r.bucket.getTime()}`, canonicalSketch(r.registers)]));
}
