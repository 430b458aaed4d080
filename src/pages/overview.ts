import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { recentDeployments } from '../db/queries/deployments.ts';
import { listFeatures, withAssignments } from '../db/queries/features.ts';
import { trendOf } from '../metrics/definitions.ts';
import type { Tone } from '../metrics/scores.ts';
import { featureSummaries, monthToDateSpend, type Summary } from '../metrics/summaries.ts';

export type Breach =
  | { kind: 'error_rate'; value: number; limit: number }
  | { kind: 'p95'; value: number; limit: number }
  | { kind: 'budget'; value: number; limit: number };

/** What a feature's own thresholds say about its last 24 hours and this month's spend. */
function breachesOf(
  f: { error_rate_threshold: number; latency_threshold_ms: number; monthly_budget_usd: number | null },
  day: Summary,
  spend: number,
): Breach[] {
  const breaches: Breach[] = [];
  const errorLimit = Number(f.error_rate_threshold);
  if (day.error_rate !== null && day.error_rate >= errorLimit)
    breaches.push({ kind: 'error_rate', value: day.error_rate, limit: errorLimit });
  if (day.p95 !== null && day.p95 > f.latency_threshold_ms) breaches.push({ kind: 'p95', value: day.p95, limit: f.latency_threshold_ms });
  if (f.monthly_budget_usd !== null && spend > Number(f.monthly_budget_usd))
    breaches.push({ kind: 'budget', value: spend, limit: Number(f.monthly_budget_usd) });
  return breaches;
}

/** The global overview: every feature's last 24 hours and month-to-date spend, the total and its trend, recent deployments. */
export async function globalOverview(db: Db, now: Date) {
  const [features, assignments, deployments] = await Promise.all([listFeatures(db), activeAssignments(db), recentDeployments(db, 10)]);
  const [day, spend] = await Promise.all([
    featureSummaries(db, features, '24h', now),
    monthToDateSpend(
      db,
      features.map((f) => f.id),
      now,
    ),
  ]);
  const rows = withAssignments(features, assignments).map((f) => {
    const metrics = day.get(f.id)!;
    const monthSpend = spend.current.get(f.id) ?? 0;
    const breaches = breachesOf(f, metrics, monthSpend);
    // The error-rate cell is red when the feature is over its own threshold (SPEC §4), not a global one.
    const errorRateTone: Tone = breaches.some((b) => b.kind === 'error_rate') ? 'bad' : 'none';
    return { ...f, metrics, monthSpend, breaches, errorRateTone };
  });
  const breaching = rows.filter((f) => f.breaches.length > 0);
  // Served models that cannot answer now, each with its reason (services/deployability.ts servingProblem).
  const unservable = assignments.filter((a) => a.serving_problem !== null);
  const total = [...spend.current.values()].reduce((a, b) => a + b, 0);
  const previous = [...spend.previous.values()].reduce((a, b) => a + b, 0);
  return {
    features: rows,
    /** The features over any of their thresholds, in the table's order. */
    breaching,
    breachingTone: (breaching.length ? 'bad' : 'good') as Tone,
    unservable,
    spend: { total, previous, trend: trendOf(total, previous) },
    deployments,
    generatedAt: now,
  };
}
