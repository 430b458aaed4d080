import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOCATOR_ENVIRONMENT, type EmbeddedCluster, freePort, openEmbeddedCluster } from '../../src/db/embedded.ts';

// The embedded cluster's processes get glibc malloc settings that keep planning memory in the backend
// (issue 19; src/db/embedded.ts ALLOCATOR_ENVIRONMENT). A cluster of this file's own, started with one of
// the two already set by the operator: that one is kept, the other added, and this process's environment
// is left as it was.

const environOf = (pid: number) =>
  Object.fromEntries(
    fs
      .readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );

const OPERATOR_TRIM = String(512 << 20);
let dir: string;
let cluster: EmbeddedCluster | undefined;
let before: NodeJS.ProcessEnv;

beforeAll(async () => {
  before = { ...process.env };
  process.env.MALLOC_TRIM_THRESHOLD_ = OPERATOR_TRIM;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-allocator-'));
  fs.chmodSync(dir, 0o755);
  cluster = await openEmbeddedCluster({ dir: path.join(dir, 'pg'), password: 'test', port: await freePort(), database: 'postgres' });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (before.MALLOC_TRIM_THRESHOLD_ === undefined) delete process.env.MALLOC_TRIM_THRESHOLD_;
  else process.env.MALLOC_TRIM_THRESHOLD_ = before.MALLOC_TRIM_THRESHOLD_;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the embedded cluster’s memory allocator settings', () => {
  it('reach the postmaster (whose backends, forked from it, inherit its allocator) and keep what the operator set', () => {
    const postmaster = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const env = environOf(postmaster);
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe(before.MALLOC_MMAP_THRESHOLD_ ?? ALLOCATOR_ENVIRONMENT.MALLOC_MMAP_THRESHOLD_);
    expect(env.MALLOC_TRIM_THRESHOLD_).toBe(OPERATOR_TRIM);
  });

  it('leave this process’s environment as it was', () => {
    expect(process.env.MALLOC_TRIM_THRESHOLD_).toBe(OPERATOR_TRIM);
    expect(process.env.MALLOC_MMAP_THRESHOLD_).toBe(before.MALLOC_MMAP_THRESHOLD_);
  });
});
