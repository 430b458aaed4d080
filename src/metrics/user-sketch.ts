/**
 * Unique users (SPEC §4) from mergeable sketches: per feature (every environment, as before) and per
 * time bucket of five grains, so a window ending now is covered by a few dozen buckets whatever its
 * length, and the fold writes a few sketches per feature and minute of traffic instead of a row per
 * user. A user is a 64-bit hash computed in SQL (hashtextextended), so fold, reads and rebuild agree.
 *
 * A sketch holds its users' hashes while they are at most SET_MAX (so small counts are exact), then
 * becomes a HyperLogLog of 2^14 registers (standard error 0.81%; the register is the hash's low 14
 * bits, its value one more than the trailing zeros of the other 50). Stored as bytea: the hashes,
 * 8 bytes each in order (at most SET_MAX × 8 < M bytes), or the registers, one byte each (exactly M bytes).
 */

export const P = 14;
export const M = 1 << P;
/** Hash bits left after the register index: a register holds 0 (empty) or 1..Q + 1. */
const Q = 64 - P;
/** The most users a sketch counts exactly, by their hashes. */
export const SET_MAX = 1024;

/** Bucket sizes in ms, finest first: each divides the next and a UTC day. */
export const GRAINS_MS = [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000] as const;

/** SQL: the 64-bit hash of the raw row `alias`'s user (NULL without one). */
export const hashSql = (alias: string) => `hashtextextended(${alias}.end_user_id, 0)`;

/** SQL aggregate: the hashes `h` of the rows in one bytea, 8 bytes each (NULL hashes, no user, skipped; repeats kept). */
export const hashesSql = (h: string) => `string_agg(int8send(${h}), ''::bytea)`;

/** Where a kept hash is written to be added again. */
const scratch = Buffer.alloc(8);

const HIGH = 0x80808080;

/**
 * Registers = the larger of each pair of bytes, four at a time: registers hold at most Q + 1 < 128,
 * so ((a | 0x80) − b) keeps its high bit exactly where a ≥ b and never borrows from the next byte.
 * (A dashboard over 30 days merges ~30 sketches of 16 KiB: byte by byte, that was its largest cost in Node.)
 * Returns whether any register grew.
 */
function maxInto(registers: Uint8Array, other: Uint8Array): boolean {
  const mine = new Uint32Array(registers.buffer, registers.byteOffset, M / 4);
  const theirs =
    other.byteOffset % 4 === 0 ? new Uint32Array(other.buffer, other.byteOffset, M / 4) : new Uint32Array(new Uint8Array(other).buffer);
  let grew = 0;
  for (let i = 0; i < mine.length; i++) {
    const a = mine[i];
    const b = theirs[i];
    const aWins = ((((a | HIGH) - b) & HIGH) >>> 7) * 0xff;
    const max = (a & aWins) | (b & ~aWins);
    grew |= max ^ a;
    mine[i] = max;
  }
  return grew !== 0;
}

/** Trailing zeros of a non-zero 32-bit integer. */
const ctz = (x: number) => 31 - Math.clz32(x & -x);

/**
 * Adds the hashes in buf[from, to) (8 bytes each, big-endian) to the registers; returns whether any
 * grew. One tight loop: a fold adds ~1,000 hashes per feature and second of traffic.
 */
function addToRegisters(registers: Uint8Array, buf: Uint8Array, from: number, to: number): boolean {
  let grew = false;
  for (let at = from; at < to; at += 8) {
    const hi = ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
    const lo = ((buf[at + 4] << 24) | (buf[at + 5] << 16) | (buf[at + 6] << 8) | buf[at + 7]) >>> 0;
    const rest = lo >>> P;
    const rho = rest ? ctz(rest) + 1 : hi ? 32 - P + ctz(hi) + 1 : Q + 1;
    const i = lo & (M - 1);
    if (rho > registers[i]) {
      registers[i] = rho;
      grew = true;
    }
  }
  return grew;
}

export class UserSketch {
  private hashes: Set<bigint> | null = new Set();
  private registers: Uint8Array | null = null;

  /** Adds the user whose hash is the 8 bytes of `buf` at `at`; returns whether the sketch changed. */
  add(buf: Buffer, at: number): boolean {
    if (this.hashes) {
      const before = this.hashes.size;
      this.hashes.add(buf.readBigUInt64BE(at));
      if (this.hashes.size > SET_MAX) this.toRegisters();
      return this.hashes?.size !== before;
    }
    return addToRegisters(this.registers!, buf, at, at + 8);
  }

  private addHash(h: bigint): boolean {
    scratch.writeBigUInt64BE(h);
    return this.add(scratch, 0);
  }

  private toRegisters() {
    const hashes = this.hashes!;
    this.hashes = null;
    this.registers = new Uint8Array(M);
    for (const h of hashes) this.addHash(h);
  }

  merge(other: UserSketch) {
    this.grows(other);
    return this;
  }

  /** Merges `other` in; returns whether this sketch changed (whether it must be stored again). */
  grows(other: UserSketch): boolean {
    if (other.registers) return this.absorbGrows(Buffer.from(other.registers.buffer, other.registers.byteOffset, M));
    let grew = false;
    for (const h of other.hashes!) grew = this.addHash(h) || grew;
    return grew;
  }

  /**
   * Adds a stored sketch, or the hashes hashesSql aggregates (any number, repeats allowed; null:
   * none), without making a sketch of it first.
   */
  absorb(buf: Buffer | null) {
    this.absorbGrows(buf);
    return this;
  }

  private absorbGrows(buf: Buffer | null): boolean {
    if (buf?.length !== M) {
      let grew = false;
      let at = 0;
      // Hash by hash while the sketch keeps them, the rest straight into the registers.
      for (; buf && at < buf.length && this.hashes; at += 8) grew = this.add(buf, at) || grew;
      if (buf && at < buf.length) grew = addToRegisters(this.registers!, buf, at, buf.length) || grew;
      return grew;
    }
    if (this.hashes) {
      const hashes = this.hashes;
      this.hashes = null;
      this.registers = new Uint8Array(buf);
      for (const h of hashes) this.addHash(h);
      return true;
    }
    return maxInto(this.registers!, buf);
  }

  /** Whether the count is exact (the sketch still holds every hash). */
  get exact() {
    return this.hashes !== null;
  }

  encode(): Buffer {
    if (this.registers) return Buffer.from(this.registers);
    // In order, so the same users are always stored alike.
    const out = Buffer.alloc(this.hashes!.size * 8);
    let at = 0;
    for (const h of [...this.hashes!].sort((a, b) => (a < b ? -1 : 1))) at = out.writeBigUInt64BE(h, at);
    return out;
  }

  /** A stored sketch, or hashes as absorb takes them. */
  static decode(buf: Buffer | null): UserSketch {
    return new UserSketch().absorb(buf);
  }

  /**
   * How many users: exact while the hashes are kept, else Ertl's improved raw estimator (“New
   * cardinality estimation algorithms for HyperLogLog sketches”, 2017), unbiased over the whole
   * range without empirical bias tables or a switch to linear counting.
   */
  estimate(): number {
    if (this.hashes) return this.hashes.size;
    const c = new Array<number>(Q + 2).fill(0);
    for (const r of this.registers!) c[r]++;
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
