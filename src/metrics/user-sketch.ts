/**
 * Unique users (SPEC §4) from mergeable HyperLogLog sketches: per feature (every environment, as
 * before) and per time bucket of five grains, so a window ending now is covered by a few dozen
 * buckets whatever its length, and the fold writes a few sketches per feature and minute of traffic
 * instead of a row per user. 2^14 registers: standard error 0.81%. A user's register and value come
 * from a 64-bit hash computed in SQL (hashtextextended), so the fold, the reads and the rebuild agree.
 *
 * A sketch is stored as bytea: dense (one byte per register, exactly M bytes) or, while at most M/8
 * registers are set, sparse (4 bytes per set register: index << 8 | value, big-endian).
 */

export const P = 14;
export const M = 1 << P;
/** Hash bits left after the register index: a register holds 0 (empty) or 1..Q + 1. */
const Q = 64 - P;
const SPARSE_MAX = M / 8;

/** Bucket sizes in ms, finest first: each divides the next and a UTC day. */
export const GRAINS_MS = [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000] as const;

/** SQL: the 64-bit hash of the raw row `alias`'s user (NULL without one) that decides its register. */
export const hashSql = (alias: string) => `hashtextextended(${alias}.end_user_id, 0)`;

/** SQL: the register of hash `h`: its low P bits. */
export const idxSql = (h: string) => `(${h} & ${M - 1})::int`;

/** SQL: the register value of hash `h`: one more than the trailing zeros of its other bits (a power of two's logarithm is exact in float8). */
export const rhoSql = (h: string) =>
  `CASE WHEN ${h} >> ${P} = 0 THEN ${Q + 1} ELSE round(ln(((${h} >> ${P}) & -(${h} >> ${P}))::float8) / ln(2))::int + 1 END`;

/**
 * SQL aggregate: the (register, value) pairs of the rows' hashes `h` in one bytea, 4 bytes each
 * (Registers.fromPairs; a register may come more than once, the highest value counts). NULL hashes
 * (no user) are skipped.
 */
export const pairsSql = (h: string) => `string_agg(int4send(${idxSql(h)} * 256 + ${rhoSql(h)}), ''::bytea)`;

export class Registers {
  private sparse: Map<number, number> | null = new Map();
  private dense: Uint8Array | null = null;

  /** Raises register i to r. */
  set(i: number, r: number) {
    if (this.dense) {
      if (r > this.dense[i]) this.dense[i] = r;
      return;
    }
    const sparse = this.sparse!;
    if (r > (sparse.get(i) ?? 0)) sparse.set(i, r);
    if (sparse.size > SPARSE_MAX) {
      this.dense = new Uint8Array(M);
      for (const [j, v] of sparse) this.dense[j] = v;
      this.sparse = null;
    }
  }

  forEach(fn: (i: number, r: number) => void) {
    if (this.sparse) for (const [i, r] of this.sparse) fn(i, r);
    else
      this.dense!.forEach((r, i) => {
        if (r) fn(i, r);
      });
  }

  merge(other: Registers) {
    const mine = this.dense;
    const theirs = other.dense;
    if (mine && theirs) for (let i = 0; i < M; i++) mine[i] = Math.max(mine[i], theirs[i]);
    else if (theirs) {
      const sparse = this.sparse!;
      this.sparse = null;
      this.dense = Uint8Array.from(theirs);
      for (const [i, r] of sparse) this.set(i, r);
    } else other.forEach((i, r) => this.set(i, r));
    return this;
  }

  encode(): Buffer {
    if (this.dense) return Buffer.from(this.dense);
    const out = Buffer.alloc(this.sparse!.size * 4);
    let o = 0;
    for (const [i, r] of [...this.sparse!].sort((a, b) => a[0] - b[0])) o = out.writeUInt32BE(i * 256 + r, o);
    return out;
  }

  /** A stored sketch (dense when exactly M bytes). */
  static decode(buf: Buffer): Registers {
    if (buf.length !== M) return Registers.fromPairs(buf);
    const regs = new Registers();
    regs.sparse = null;
    regs.dense = new Uint8Array(buf);
    return regs;
  }

  /** Pairs of any length, as pairsSql makes them. */
  static fromPairs(buf: Buffer | null): Registers {
    const regs = new Registers();
    for (let o = 0; buf && o < buf.length; o += 4) {
      const v = buf.readUInt32BE(o);
      regs.set(v >>> 8, v & 255);
    }
    return regs;
  }

  /**
   * The cardinality estimate: Ertl's improved raw estimator (“New cardinality estimation algorithms
   * for HyperLogLog sketches”, 2017), unbiased from a handful of users to billions without
   * empirical bias tables or a switch to linear counting.
   */
  estimate(): number {
    const c = new Array<number>(Q + 2).fill(0);
    let set = 0;
    this.forEach((_i, r) => {
      c[r]++;
      set++;
    });
    c[0] = M - set;
    if (c[0] === M) return 0;
    let z = M * tau(1 - c[Q + 1] / M);
    for (let k = Q; k >= 1; k--) z = 0.5 * (z + c[k]);
    z += M * sigma(c[0] / M);
    return Math.round((M * M) / (2 * Math.LN2) / z);
  }
}

function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const before = z;
    z += x * y;
    y += y;
    if (z === before) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const before = z;
    y *= 0.5;
    z -= (1 - x) ** 2 * y;
    if (z === before) return z / 3;
  }
}

export interface Bucket {
  grainMs: number;
  start: number;
}

/**
 * The buckets that tile the whole minutes [from, to) (epoch ms, minute-aligned): from the left, the
 * largest grain aligned at each point that still fits, so the edges use fine buckets and the middle
 * coarse ones (at most 2 × (9 + 5 + 5 + 3) + 30 for 30 days).
 */
export function tiling(from: number, to: number): Bucket[] {
  const out: Bucket[] = [];
  for (let t = from; t < to; ) {
    const grainMs = [...GRAINS_MS].reverse().find((g) => t % g === 0 && t + g <= to) ?? GRAINS_MS[0];
    out.push({ grainMs, start: t });
    t += grainMs;
  }
  return out;
}
