import crypto from 'node:crypto';

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted';

/** One step of the ramp: the share in basis points (100 = 1%), held at least min_minutes and until each arm has min_requests. */
export interface RolloutStage {
  percent_bp: number;
  min_minutes: number;
  min_requests_per_arm: number;
}

/** When the guard acts: margins against the stable arm, sustained for for_minutes (SPEC §10.5). */
export interface RolloutGuard {
  /** Candidate error rate may exceed stable's by this many percentage points (and must be significant, z ≥ 3.09). */
  error_margin_pp: number;
  /** Candidate p95 (its lower histogram bound) may exceed stable's upper bound by this share, in percent. */
  p95_margin_pct: number;
  /** Candidate cost per request may exceed stable's by this share, in percent. */
  cost_margin_pct: number;
  for_minutes: number;
  on_regression: 'rollback' | 'pause';
  /** What a stage that waited max_wait_minutes without enough traffic does. */
  on_insufficient: 'hold' | 'pause';
  max_wait_minutes: number;
}

export const DEFAULT_STAGES: RolloutStage[] = [100, 500, 2500, 5000, 10000].map((percent_bp) => ({
  percent_bp,
  min_minutes: 10,
  min_requests_per_arm: 100,
}));

export const DEFAULT_GUARD: RolloutGuard = {
  error_margin_pp: 2,
  p95_margin_pct: 20,
  cost_margin_pct: 50,
  for_minutes: 5,
  on_regression: 'rollback',
  on_insufficient: 'pause',
  max_wait_minutes: 60,
};

/** The bucketing's name, carried by the runtime config so a client can tell which function to run. */
export const BUCKET_ALGORITHM = 'sha256-8hex-mod10000';

/**
 * The documented, sticky bucketing: the first 8 hex digits of SHA-256(salt + ":" + end_user_id) as an
 * unsigned integer, mod 10000. Its twins: rollout_bucket() in SQL, the README's JS and Python references
 * (all checked against docs/rollout-vectors.json).
 */
export function rolloutBucket(salt: string, endUserId: string): number {
  const hex = crypto.createHash('sha256').update(`${salt}:${endUserId}`, 'utf8').digest('hex');
  return Number.parseInt(hex.slice(0, 8), 16) % 10000;
}

/** The arm a user is served: candidate iff its bucket is below the share; no user id → stable (exposure stays sticky). */
export function armOf(salt: string, percentBp: number, endUserId: string | null | undefined): 'stable' | 'candidate' {
  if (!endUserId) return 'stable';
  return rolloutBucket(salt, endUserId) < percentBp ? 'candidate' : 'stable';
}

/** A new salt per rollout (16 random bytes): a restarted rollout picks different users, as the start form warns. */
export const newSalt = () => crypto.randomBytes(16).toString('hex');
