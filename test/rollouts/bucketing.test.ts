import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/knex.ts';
import { armOf, rolloutBucket } from '../../src/services/rollout-plan.ts';
import { databaseUrl } from '../setup/app.ts';

// The documented bucketing (README "Gradual rollouts"): the server, the SQL twin and the README's
// JS and Python references agree on every vector of docs/rollout-vectors.json.

interface Vector {
  salt: string;
  end_user_id: string;
  bucket: number;
}
const { vectors } = JSON.parse(fs.readFileSync('docs/rollout-vectors.json', 'utf8')) as { vectors: Vector[] };

/** The README's fenced code block after `<!-- rollout-reference:<lang> -->`. */
function readmeReference(lang: 'js' | 'python'): string {
  const readme = fs.readFileSync('README.md', 'utf8');
  const match = readme.match(new RegExp(`<!-- rollout-reference:${lang} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``));
  if (!match) throw new Error(`README has no ${lang} rollout reference`);
  return match[1];
}

let db: Db;
let dir: string;
beforeAll(() => {
  db = createDb(databaseUrl(), 2);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rollout-ref-'));
});
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await db?.destroy();
});

describe('rollout bucketing: sha256-8hex-mod10000', () => {
  it('when the server computes each vector, then it gives the vector’s bucket', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(40);
    for (const v of vectors) expect(rolloutBucket(v.salt, v.end_user_id), JSON.stringify(v)).toBe(v.bucket);
  });

  it('when the SQL twin rollout_bucket() computes each vector, then it agrees', async () => {
    const { rows } = await db.raw<{ rows: { bucket: number }[] }>(
      'SELECT rollout_bucket(v.salt, v.end_user_id) AS bucket FROM jsonb_to_recordset(?::jsonb) AS v(salt text, end_user_id text, ord int) ORDER BY ord',
      [JSON.stringify(vectors.map((v, ord) => ({ ...v, ord })))],
    );
    expect(rows.map((r) => r.bucket)).toEqual(vectors.map((v) => v.bucket));
  });

  it('when the README’s JavaScript reference runs, then it agrees on every vector', async () => {
    const file = path.join(dir, 'reference.mjs');
    fs.writeFileSync(file, readmeReference('js'));
    const ref = (await import(pathToFileURL(file).href)) as { rolloutBucket: (s: string, u: string) => number };
    expect(vectors.map((v) => ref.rolloutBucket(v.salt, v.end_user_id))).toEqual(vectors.map((v) => v.bucket));
  });

  it('when the README’s Python reference runs with python3, then it agrees on every vector', () => {
    const script = `${readmeReference('python')}\nimport json, sys\nprint(json.dumps([rollout_bucket(v["salt"], v["end_user_id"]) for v in json.load(sys.stdin)["vectors"]]))\n`;
    let out: string;
    try {
      out = execFileSync('python3', ['-c', script], { input: fs.readFileSync('docs/rollout-vectors.json'), encoding: 'utf8' });
    } catch (err) {
      throw new Error(`python3 is needed to check the README's Python reference: ${(err as Error).message}`);
    }
    expect(JSON.parse(out)).toEqual(vectors.map((v) => v.bucket));
  });

  it('when 10,000 synthetic users meet a 5% rollout, then the candidates land within 3σ of 500, and raising to 25% keeps every one', () => {
    const salt = 'f00dfeedcafebeef0123456789abcdef';
    const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    const at5 = users.filter((u) => armOf(salt, 500, u) === 'candidate');
    const sigma = Math.sqrt(10_000 * 0.05 * 0.95);
    expect(Math.abs(at5.length - 500)).toBeLessThanOrEqual(3 * sigma);
    const at25 = new Set(users.filter((u) => armOf(salt, 2500, u) === 'candidate'));
    expect(at5.every((u) => at25.has(u))).toBe(true);
    expect(Math.abs(at25.size - 2500)).toBeLessThanOrEqual(3 * Math.sqrt(10_000 * 0.25 * 0.75));
  });

  it('when a request has no end user id, then it gets stable even at 100%', () => {
    expect(armOf('s', 10_000, null)).toBe('stable');
    expect(armOf('s', 10_000, '')).toBe('stable');
    expect(armOf('s', 10_000, 'someone')).toBe('candidate');
  });
});
