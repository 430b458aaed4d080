import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { featureChanges } from '../db/queries/deployments.ts';
import { type FeatureRow, findFeature, listFeatures } from '../db/queries/features.ts';
import { promptActivationsBetween } from '../db/queries/prompts.ts';
import { ENVIRONMENTS, type Environment, MODEL_TYPES } from '../domain.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { choice, formatParam, rangeParam } from '../http/query.ts';
import { featureMetrics, SPLITS, type Split } from '../metrics/feature-metrics.ts';
import { latestEventId } from '../metrics/queries.ts';
import { type RangeName, windowOf } from '../metrics/ranges.ts';
import { breachesOf, ERROR_CHART_MIN_PCT } from '../metrics/scores.ts';
import { featureAlerts } from './alerts.ts';
import { featureCards } from './feature-cards.ts';
import { CHARTED_VERSIONS, overviewCharts, versionName } from './feature-charts.ts';
import { featureModelsTab } from './feature-models-tab.ts';
import { featurePromptsTab } from './feature-prompts-tab.ts';

const versionParam = z.coerce
  .number({ message: 'must be a version number' })
  .int('must be a version number')
  .positive('must be a version number');

import { featureSettingsTab } from './feature-settings-tab.ts';
import { featureTestingTab } from './feature-testing-tab.ts';
import { rolloutSummary } from './rollout.ts';

export const TABS = ['overview', 'models', 'prompts', 'testing', 'settings'] as const;
export type Tab = (typeof TABS)[number];

/** What the overview's figures can be for (SPEC §4): one environment, or `all` added up (labelled so). */
export const FIGURE_ENVIRONMENTS = [...ENVIRONMENTS, 'all'] as const;
export type FigureEnvironment = (typeof FIGURE_ENVIRONMENTS)[number];

/** The overview's "Split by" choices: the whole, or one series per prompt version. */
const SPLIT_CHOICES: { value: Split | undefined; label: string }[] = [
  { value: undefined, label: 'Whole' },
  { value: 'prompt_version', label: 'Prompt version' },
];

/** The page's state, all in the query string (SPEC §5). Bad values are a 400, never a silent default. */
export const featuresQuerySchema = z.object({
  feature: z.string().max(100, 'must be at most 100 characters').optional(),
  tab: choice(TABS).default('overview'),
  range: rangeParam.default('24h'),
  environment: choice(FIGURE_ENVIRONMENTS).optional(),
  // The overview's figures split by prompt version (issue 15); whole without it.
  split: choice(SPLITS).optional(),
  format: formatParam,
  // The card strip's search (name or display name) and page.
  q: z.string().trim().max(100, 'must be at most 100 characters').optional(),
  page: z.coerce
    .number({ message: 'must be a page number' })
    .int('must be a page number')
    .min(1, 'must be 1 or more')
    .max(100_000, 'is too far')
    .optional(),
  // The Prompts tab's diff: two version numbers.
  from: versionParam.optional(),
  to: versionParam.optional(),
});
export type FeaturesQuery = z.infer<typeof featuresQuerySchema>;

/** The environment the overview's figures are for: production unless the URL names another, or `all`. */
export const figuresEnvironmentOf = (q: { environment?: FigureEnvironment }): FigureEnvironment => q.environment ?? 'production';

/** The environment the Models tab shows: production unless the URL names one (`all` names none). */
const modelsEnvironmentOf = (q: FeaturesQuery): Environment =>
  q.environment === undefined || q.environment === 'all' ? 'production' : q.environment;

/** The metrics' environment filter of a figures environment: null adds every environment up. */
export const environmentFilter = (e: FigureEnvironment): Environment | null => (e === 'all' ? null : e);

/**
 * The swap targets of the features page: the workspace (cards and the selected feature, on card
 * selection), the cards (polled), the selected feature's panel (tabs) and its overview (ranges, polled).
 */
export const FEATURE_TARGETS = ['feature-workspace', 'feature-cards', 'feature-panel', 'feature-overview'] as const;

/** The feature the URL names, or the first one when it names none; 404 for an unknown one. */
export async function selectedFeature(db: Db, slug: string | undefined): Promise<FeatureRow | undefined> {
  if (slug === undefined || slug === '') return (await listFeatures(db))[0];
  const feature = await findFeature(db, slug);
  if (!feature) throw notFound('Feature');
  return feature;
}

/**
 * The overview tab in one environment: the metrics service's figures (split by prompt version when
 * asked), the thresholds they breach, the charts' series and that environment's model changes and
 * prompt activations in range.
 */
export async function featureOverview(
  db: Db,
  feature: FeatureRow,
  view: { range: RangeName; environment: FigureEnvironment; split?: Split },
  now: Date,
  timeZone: string,
) {
  const { range, environment, split } = view;
  const w = windowOf(range, now);
  // Read first: an event newer than this may or may not be counted, and the live check will see it.
  const version = await latestEventId(db);
  const [metrics, allChanges, allActivations] = await Promise.all([
    featureMetrics(db, feature, range, now, timeZone, environmentFilter(environment), split),
    featureChanges(db, feature.id, w.from, w.to),
    promptActivationsBetween(db, feature.id, w.from, w.to),
  ]);
  const inView = (c: { environment: Environment }) => environment === 'all' || c.environment === environment;
  const changes = allChanges.filter(inView);
  const promptChanges = allActivations.filter(inView);
  const errorRate = metrics.realtime.error_rate;
  const breaches = breachesOf(feature, metrics.realtime, null);
  const thresholds = { latencyMs: feature.latency_threshold_ms, errorRatePct: Number(feature.error_rate_threshold) };
  return {
    metrics,
    environment,
    environmentLabel: environment === 'all' ? 'all environments' : environment,
    /** The live check's `since`: the figures are current as of this event id. */
    version,
    changes,
    promptChanges,
    split,
    /** Split by prompt version: each version's figures, named ("v3", "no version"). */
    versions: metrics.by_prompt_version?.map((v) => ({ ...v, name: versionName(v.prompt_version) })),
    /** How many versions the charts draw, when there are more (the table lists them all). */
    chartedVersions: (metrics.by_prompt_version?.length ?? 0) > CHARTED_VERSIONS ? CHARTED_VERSIONS : null,
    breaches,
    breached: { p95: breaches.some((b) => b.kind === 'p95'), error_rate: breaches.some((b) => b.kind === 'error_rate') },
    charts: overviewCharts(metrics, { models: changes, prompts: promptChanges }, { range, timeZone, now, thresholds }),
    // The error-rate chart also shows whenever the rate breaches the feature's own threshold, and
    // always when split by version (errors are among what a new prompt may change).
    showErrorChart:
      errorRate !== null && (split !== undefined || errorRate > ERROR_CHART_MIN_PCT || breaches.some((b) => b.kind === 'error_rate')),
  };
}
export type FeatureOverview = Awaited<ReturnType<typeof featureOverview>>;

/** What the other tabs show (testing is read-only until later work). */
export async function featureTab(db: Db, feature: FeatureRow, q: FeaturesQuery, now: Date, timeZone: string) {
  if (q.tab === 'models') {
    const environment = modelsEnvironmentOf(q);
    const [models, rollout] = await Promise.all([
      featureModelsTab(db, feature, environment, now),
      rolloutSummary(db, feature.id, environment),
    ]);
    return { models: { ...models, rollout } };
  }
  if (q.tab === 'prompts') return { prompts: await featurePromptsTab(db, feature, q) };
  if (q.tab === 'settings') return { settings: await featureSettingsTab(db, feature, now, timeZone) };
  if (q.tab === 'testing') return { testing: await featureTestingTab(db, feature) };
  return {};
}

/** What the page, or the fragment htmx asks for (`part`, a target id), needs: nothing more is queried. */
export async function featuresPageParts(db: Db, p: { feature?: FeatureRow; q: FeaturesQuery; part?: string; now: Date; timeZone: string }) {
  const { feature, q, part, now, timeZone } = p;
  if ((part === 'feature-panel' || part === 'feature-overview') && !feature) throw new HttpError(404, 'There is no feature to show');
  if (part === 'feature-overview' && q.tab !== 'overview') throw new HttpError(400, 'The overview fragment needs tab=overview');
  const known = (FEATURE_TARGETS as readonly string[]).includes(part ?? '');
  const wantsCards = !known || part === 'feature-workspace' || part === 'feature-cards';
  const wantsPanel = feature !== undefined && part !== 'feature-cards';
  const [cards, overview, tab, alerts] = await Promise.all([
    wantsCards ? featureCards(db, now, { q: q.q || undefined, page: q.page ?? 1, selected: feature }) : undefined,
    wantsPanel && q.tab === 'overview'
      ? featureOverview(db, feature, { range: q.range, environment: figuresEnvironmentOf(q), split: q.split }, now, timeZone)
      : undefined,
    wantsPanel && q.tab !== 'overview' ? featureTab(db, feature, q, now, timeZone) : undefined,
    wantsPanel ? featureAlerts(db, feature.id) : undefined,
  ]);
  // The tab list and the model types the add-feature form offers come from code, not from the templates.
  return { cards, overview, tab, alerts, tabs: TABS, environments: FIGURE_ENVIRONMENTS, splits: SPLIT_CHOICES, modelTypes: MODEL_TYPES };
}
