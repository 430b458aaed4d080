import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { recentDeployments } from '../db/queries/deployments.ts';
import { listFeatures, withAssignments } from '../db/queries/features.ts';
import { trendOf } from '../metrics/definitions.ts';
import { breachesOf, type Tone } from '../metrics/scores.ts';
import { featureHeadlines, monthToDateSpend } from '../metrics/summaries.ts';
import { firingByFeature } from '../services/alerts.ts';
import { attentionFirst, needsAttention } from './attention.ts';
import { type CsvColumn, csvOf } from './csv.ts';

/** The overview's request figures are production's: trials in staging and development do not move them. */
export const OVERVIEW_ENVIRONMENT = 'production' as const;

/** Rows of the features table, and features of the breach list, at most: the rest are a link away (and in the CSV). */
export const OVERVIEW_ROWS = 20;

/**
 * The global overview: the features that need attention, then the busiest (last 24 hours in
 * production), at most OVERVIEW_ROWS of them, each with its month-to-date spend (all environments);
 * the headline figures (total spend and its trend, how many breach) over every feature; recent deployments.
 * Every feature's figures come from one aggregate query each, none per feature.
 */
export async function globalOverview(db: Db, now: Date) {
  // The figures start as soon as the features are known, while the rest of the catalogue is read.
  const listed = listFeatures(db);
  const figures = listed.then((features) => {
    const ids = features.map((f) => f.id);
    return Promise.all([featureHeadlines(db, features, '24h', now, OVERVIEW_ENVIRONMENT), monthToDateSpend(db, ids, now)] as const);
  });
  const [features, assignments, deployments, firing, [day, spend]] = await Promise.all([
    listed,
    activeAssignments(db),
    recentDeployments(db, 10),
    firingByFeature(db),
    figures,
  ]);
  const rows = withAssignments(features, assignments).map((f) => {
    const metrics = day.get(f.id)!;
    const monthSpend = spend.current.get(f.id) ?? 0;
    const breaches = breachesOf(f, metrics, monthSpend);
    // The error-rate cell is red when the feature is over its own threshold (SPEC §4), not a global one.
    const errorRateTone: Tone = breaches.some((b) => b.kind === 'error_rate') ? 'bad' : 'none';
    const alertsFiring = firing.get(f.id) ?? 0;
    const attention = needsAttention({ alertsFiring, breaches, assignments: f.assignments });
    return { metrics, monthSpend, breaches, errorRateTone, alertsFiring, attention, ...f }; // the row last: see withAssignments
  });
  const ranked = attentionFirst(rows.sort((a, b) => b.metrics.total_requests - a.metrics.total_requests));
  const breaching = ranked.filter((f) => f.breaches.length > 0);
  // Served models that cannot answer now, each with its reason (services/deployability.ts servingProblem).
  const unservable = assignments.filter((a) => a.serving_problem !== null);
  const total = [...spend.current.values()].reduce((a, b) => a + b, 0);
  const previous = [...spend.previous.values()].reduce((a, b) => a + b, 0);
  return {
    /** Every feature, those that need attention first, then the busiest: the CSV has them all. */
    all: ranked,
    features: ranked.slice(0, OVERVIEW_ROWS),
    /** The features over any of their thresholds (all counted, the first OVERVIEW_ROWS listed). */
    breachingCount: breaching.length,
    breaching: breaching.slice(0, OVERVIEW_ROWS),
    breachingTone: (breaching.length ? 'bad' : 'good') as Tone,
    unservable,
    spend: { total, previous, trend: trendOf(total, previous) },
    deployments,
    environment: OVERVIEW_ENVIRONMENT,
    generatedAt: now,
  };
}
type OverviewRow = Awaited<ReturnType<typeof globalOverview>>['all'][number];

const COLUMNS: CsvColumn<OverviewRow>[] = [
  ['feature', (r) => r.name],
  ['display_name', (r) => r.display_name],
  ['status', (r) => r.status],
  ['production_model', (r) => r.assignments.production?.model_display_name ?? null],
  ['requests_24h', (r) => r.metrics.total_requests],
  ['error_rate_pct', (r) => r.metrics.error_rate],
  ['p95_ms', (r) => r.metrics.p95],
  ['month_spend_usd', (r) => r.monthSpend],
  ['alerts_firing', (r) => r.alertsFiring],
  ['breaches', (r) => r.breaches.map((b) => b.kind).join(' ')],
];

/** Every feature's row of the overview as CSV (SPEC §5), in the table's order. */
export const overviewCsv = (overview: Awaited<ReturnType<typeof globalOverview>>) => csvOf(COLUMNS, overview.all);
