import type { AlertKind, AlertState, NoDataPolicy } from '../domain.ts';

// The alert state machine (SPEC §10.4, round-2 anchors §4c), pure: one evaluated minute in, the
// next state out, with what (if anything) must be notified. Hysteresis: a breach needs the value at
// or over the threshold, a clear needs it under the resolve threshold; in between nothing counts.

const MINUTE = 60_000;

export interface RuleCondition {
  kind: AlertKind;
  threshold: number;
  resolve_threshold: number | null;
  for_min: number;
  resolve_for_min: number | null;
  min_requests: number;
  no_data: NoDataPolicy;
  repeat_min: number;
}

export interface Observation {
  value: number | null;
  /** Requests in the window. */
  sample_n: number;
}

/** What one minute says: over the threshold, under the resolve threshold, or neither (the band, or no data kept as is). */
export type Reading = 'breach' | 'clear' | 'band' | 'none';

/** Kinds that breach below their threshold (and clear at or over the resolve threshold); the others breach at or over it. */
export const BELOW_KINDS: ReadonlySet<AlertKind> = new Set(['traffic_below', 'provider_health']);

export function classify(rule: RuleCondition, o: Observation): Reading {
  const resolve = rule.resolve_threshold ?? rule.threshold;
  // Low traffic is the condition itself: no minimum sample applies.
  const value = rule.kind === 'traffic_below' ? o.sample_n : o.value;
  if (rule.kind !== 'traffic_below' && (value === null || o.sample_n < rule.min_requests)) {
    return ({ ok: 'clear', keep: 'none', alert: 'breach' } as const)[rule.no_data];
  }
  const v = value as number;
  if (BELOW_KINDS.has(rule.kind)) return v < rule.threshold ? 'breach' : v >= resolve ? 'clear' : 'band';
  return v >= rule.threshold ? 'breach' : v < resolve ? 'clear' : 'band';
}

export interface Machine {
  state: AlertState;
  since: Date;
  started_at: Date | null;
  last_notified_at: Date | null;
  acked_at: Date | null;
}

export type Notice = 'firing' | 'resolved' | 'repeat';

export interface Step {
  next: Machine;
  /** The state it came from when the state changed. */
  from: AlertState | null;
  notice: Notice | null;
}

/** Minutes from `since` through `at`, both counted: the run of consecutive readings so far. */
const run = (since: Date, at: Date) => Math.round((at.getTime() - since.getTime()) / MINUTE) + 1;

export function step(m: Machine, rule: RuleCondition, reading: Reading, at: Date): Step {
  const stay: Step = { next: m, from: null, notice: null };
  const move = (state: AlertState, notice: Notice | null, extra: Partial<Machine> = {}): Step => ({
    next: { ...m, state, since: at, ...extra, ...(notice && { last_notified_at: at }) },
    from: m.state,
    notice,
  });
  const resolveFor = rule.resolve_for_min ?? rule.for_min;
  switch (m.state) {
    case 'ok':
      if (reading !== 'breach') return stay;
      return rule.for_min <= 1
        ? move('firing', 'firing', { started_at: at, acked_at: null })
        : move('pending', null, { started_at: at, acked_at: null });
    case 'pending':
      if (reading === 'none') return stay;
      if (reading !== 'breach') return move('ok', null);
      return run(m.since, at) >= rule.for_min ? move('firing', 'firing') : stay;
    case 'firing':
      if (reading === 'clear') return resolveFor <= 1 ? move('ok', 'resolved', { acked_at: null }) : move('recovering', null);
      if (m.acked_at === null && m.last_notified_at && at.getTime() - m.last_notified_at.getTime() >= rule.repeat_min * MINUTE) {
        return { next: { ...m, last_notified_at: at }, from: null, notice: 'repeat' };
      }
      return stay;
    case 'recovering':
      if (reading === 'none') return stay;
      // Anything but a clear minute breaks the run: back to firing, without a new message.
      if (reading !== 'clear') return move('firing', null);
      return run(m.since, at) >= resolveFor ? move('ok', 'resolved', { acked_at: null }) : stay;
  }
}
