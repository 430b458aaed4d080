import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { recentDeployments } from '../db/queries/deployments.ts';
import { listFeatures, withAssignments } from '../db/queries/features.ts';
import { trendOf } from '../metrics/definitions.ts';
import { breachesOf, type Tone } from '../metrics/scores.ts';
import { featureSummaries, monthToDateSpend } from '../metrics/summaries.ts';

/** The overview's request figures are production's: trials in staging and development do not move them. */
export const OVERVIEW_ENVIRONMENT = 'production' as const;

/** The global overview: every feature's last 24 hours in production and month-to-date spend (all environments), the total and its trend, recent deployments. */
export async function globalOverview(db: Db, now: Date) {
  const [features, assignments, deployments] = await Promise.all([listFeatures(db), activeAssignments(db), recentDeployments(db, 10)]);
  const [day, spend] = await Promise.all([
    featureSummaries(db, features, '24h', now, OVERVIEW_ENVIRONMENT),
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
    environment: OVERVIEW_ENVIRONMENT,
    generatedAt: now,
  };
}
