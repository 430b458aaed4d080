/** Scores, grades and status colours of the reference plan, with every sub-score clamped to 0–100. */
const clamp = (x: number) => Math.min(100, Math.max(0, x));

export type Grade = 'A+' | 'A' | 'B' | 'C' | 'D';

export interface PerformanceScore {
  score: number;
  grade: Grade;
  reliability: number;
  speed: number;
  accuracy: number;
}

/** null without data: a score of nothing is not a D. */
export function performanceScore(m: {
  uptime: number | null;
  response_time: number | null;
  success_rate: number | null;
}): PerformanceScore | null {
  if (m.uptime === null || m.response_time === null || m.success_rate === null) return null;
  const reliability = clamp((m.uptime / 99) * 100);
  const speed = clamp(((2000 - m.response_time) / 2000) * 100);
  const accuracy = clamp(m.success_rate);
  const score = (reliability + speed + accuracy) / 3;
  const grade: Grade = score >= 90 ? 'A+' : score >= 80 ? 'A' : score >= 70 ? 'B' : score >= 60 ? 'C' : 'D';
  return { score, grade, reliability, speed, accuracy };
}

/** Excellent / Good / Needs improvement, as the plan labels reliability, speed and accuracy. */
export function scoreLabel(value: number | null, good: number, ok: number): string | null {
  if (value === null) return null;
  return value >= good ? 'Excellent' : value >= ok ? 'Good' : 'Needs improvement';
}

/** 100 at ≤ 500 ms, falling linearly to 0 at ≥ 5000 ms. */
export const latencyScore = (ms: number) => clamp(((5000 - ms) / 4500) * 100);

/** The most a provider scores after a failed probe in the last 15 minutes. */
export const PROBE_CAP = 50;

/**
 * Provider health (SPEC §4, last 24 h): 0.5 × success rate + 0.3 × uptime + 0.2 × latency score,
 * capped at 50 after a failed active probe in the last 15 minutes; null without traffic, unless a
 * probe failed: a provider that does not answer scores the cap, never "no data" left out of an average.
 */
export function healthScore(
  m: { success_rate: number | null; uptime: number | null; response_time: number | null },
  failedProbeRecently: boolean,
): number | null {
  if (m.success_rate === null || m.uptime === null || m.response_time === null) return failedProbeRecently ? PROBE_CAP : null;
  const score = 0.5 * m.success_rate + 0.3 * m.uptime + 0.2 * latencyScore(m.response_time);
  return failedProbeRecently ? Math.min(score, PROBE_CAP) : score;
}

/** A feature card warns above this error rate (%, last 24 hours). */
export const ERROR_RATE_WARNING_PCT = 5;
/** The overview tab charts the error rate only above this rate (%, over the range): below, the chart is a flat line. */
export const ERROR_CHART_MIN_PCT = 1;

export type Tone = 'good' | 'warn' | 'bad' | 'none';

/** Status colours of the plan's metric cards (SPEC §4); 'none' when there is no data. */
export const tones = {
  uptime: (v: number | null): Tone => (v === null ? 'none' : v >= 99 ? 'good' : v >= 95 ? 'warn' : 'bad'),
  responseTime: (v: number | null): Tone => (v === null ? 'none' : v <= 1000 ? 'good' : v <= 2000 ? 'warn' : 'bad'),
  successRate: (v: number | null): Tone => (v === null ? 'none' : v >= 98 ? 'good' : v >= 95 ? 'warn' : 'bad'),
  /** Provider health: the same bands as the health bar (good from 90, low under 70). */
  health: (v: number | null): Tone => (v === null ? 'none' : v >= 90 ? 'good' : v >= 70 ? 'warn' : 'bad'),
};

export type Breach =
  | { kind: 'error_rate'; value: number; limit: number }
  | { kind: 'p95'; value: number; limit: number }
  | { kind: 'budget'; value: number; limit: number };

/** What a feature's own thresholds say about its figures (error rate, p95) and, when given, this month's spend. */
export function breachesOf(
  f: { error_rate_threshold: number; latency_threshold_ms: number; monthly_budget_usd: number | null },
  figures: { error_rate: number | null; p95: number | null },
  spend: number | null,
): Breach[] {
  const breaches: Breach[] = [];
  const errorLimit = Number(f.error_rate_threshold);
  if (figures.error_rate !== null && figures.error_rate >= errorLimit)
    breaches.push({ kind: 'error_rate', value: figures.error_rate, limit: errorLimit });
  if (figures.p95 !== null && figures.p95 > f.latency_threshold_ms)
    breaches.push({ kind: 'p95', value: figures.p95, limit: f.latency_threshold_ms });
  if (spend !== null && f.monthly_budget_usd !== null && spend > Number(f.monthly_budget_usd))
    breaches.push({ kind: 'budget', value: spend, limit: Number(f.monthly_budget_usd) });
  return breaches;
}
