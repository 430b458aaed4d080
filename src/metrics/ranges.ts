/** The ranges of SPEC §4, each with its chart bucket. All ranges end now. */
export const RANGES = {
  '1h': { ms: 3_600_000, bucketMs: 5 * 60_000, bucket: '5 minutes' },
  '24h': { ms: 86_400_000, bucketMs: 3_600_000, bucket: '1 hour' },
  '7d': { ms: 7 * 86_400_000, bucketMs: 6 * 3_600_000, bucket: '6 hours' },
  '30d': { ms: 30 * 86_400_000, bucketMs: 86_400_000, bucket: '1 day' },
} as const;

export type RangeName = keyof typeof RANGES;
export const RANGE_NAMES = Object.keys(RANGES) as RangeName[];

export const isRange = (value: unknown): value is RangeName => typeof value === 'string' && value in RANGES;

/** A half-open window [from, to) of event times. */
export interface Window {
  from: Date;
  to: Date;
  /** It ends now: no event is later (ingestion refuses them), so the minute holding `to` may be read whole from its rollup. */
  endsNow?: boolean;
}

/**
 * The window of a range ending at `now`: [now − range, now]. Events are never later than now, so
 * the end is made exclusive one millisecond after it.
 */
export function windowOf(range: RangeName, now: Date): Window {
  return { from: new Date(now.getTime() - RANGES[range].ms), to: new Date(now.getTime() + 1), endsNow: true };
}

/** The window of the same length just before (for trends). */
export function previousWindow(range: RangeName, now: Date): Window {
  const { from } = windowOf(range, now);
  return { from: new Date(from.getTime() - RANGES[range].ms), to: from };
}

export const minutesIn = (range: RangeName) => RANGES[range].ms / 60_000;

/** UTC bucket starts (epoch-aligned) from the bucket holding `from` through the one holding `at`. */
export function bucketStarts(range: RangeName, from: Date, at: Date): Date[] {
  const size = RANGES[range].bucketMs;
  const starts: Date[] = [];
  for (let t = Math.floor(from.getTime() / size) * size; t <= at.getTime(); t += size) starts.push(new Date(t));
  return starts;
}

/** Minute slots a window touches: the first and last may be partial. */
export function minuteSlots(w: Window): number {
  const first = Math.floor(w.from.getTime() / 60_000);
  const last = Math.floor((w.to.getTime() - 1) / 60_000);
  return last - first + 1;
}
