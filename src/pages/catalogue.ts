import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { activeDeployments, findModel, listModels, listProviders, type ModelRow } from '../db/queries/catalogue.ts';
import { deploymentsPage } from '../db/queries/deployments.ts';
import { listFeatures } from '../db/queries/features.ts';
import { DEPLOYMENT_STATUSES, ENVIRONMENTS, MODEL_STATUSES, MODEL_TYPES } from '../domain.ts';
import { choice, formatParam } from '../http/query.ts';
import { performanceScore } from '../metrics/scores.ts';
import { modelSummaries, providerSummaries, type Summary } from '../metrics/summaries.ts';
import { isArchived } from '../services/archive.ts';
import { type CsvColumn, csvOf } from './csv.ts';

const CATALOGUE_TABS = ['providers', 'models', 'deployments'] as const;
const MODEL_SORTS = ['name', 'performance', 'cost', 'usage'] as const;
/** The models tab's figures cover the same day as the feature cards. */
const MODELS_RANGE = '24h';
const DEPLOYMENTS_PER_PAGE = 25;

const limited = z.string().max(100, 'must be at most 100 characters');

/**
 * The page's state from its query string (SPEC §5). `status` means a model's status on the models
 * tab and a deployment's on the deployments tab.
 */
export const catalogueQuerySchema = z
  .object({
    tab: choice(CATALOGUE_TABS).default('providers'),
    q: z.string().trim().max(100, 'must be at most 100 characters').optional(),
    provider: limited.optional(),
    status: z.string().max(20, 'must be at most 20 characters').optional(),
    sort: choice(MODEL_SORTS).optional(),
    feature: limited.optional(),
    model: z.uuid({ message: 'must be the id of a model' }).optional(),
    environment: choice(ENVIRONMENTS).optional(),
    page: z.coerce
      .number({ message: 'must be a page number' })
      .int('must be a page number')
      .min(1, 'must be 1 or more')
      .max(100_000, 'is too far')
      .default(1),
    format: formatParam,
    /** Archived providers and models are listed only when asked for. */
    archived: choice(['yes']).optional(),
  })
  .superRefine((q, ctx) => {
    const statuses: readonly string[] = q.tab === 'deployments' ? DEPLOYMENT_STATUSES : MODEL_STATUSES;
    if (q.status !== undefined && !statuses.includes(q.status)) {
      ctx.addIssue({ code: 'custom', path: ['status'], message: `must be one of ${statuses.join(', ')}` });
    }
  });

export type CatalogueQuery = z.infer<typeof catalogueQuerySchema>;

export async function catalogueProvidersTab(db: Db, q: Pick<CatalogueQuery, 'archived'>, now: Date) {
  const [all, models, serving] = await Promise.all([listProviders(db), listModels(db), activeDeployments(db)]);
  const providers = q.archived ? all : all.filter((p) => !isArchived(p));
  const summaries = await providerSummaries(
    db,
    providers.map((p) => p.id),
    now,
  );
  const servingModels = new Set(serving.map((d) => d.model_id));
  const cards = providers.map((p) => ({
    ...p,
    summary: summaries.get(p.id)!,
    serving_models: models.filter((m) => m.provider_id === p.id && servingModels.has(m.id)).length,
  }));
  const scored = cards.map((c) => c.summary.health_score).filter((s): s is number => s !== null);
  return {
    cards,
    archivedCount: all.filter(isArchived).length,
    stats: {
      active: cards.filter((c) => c.status === 'active').length,
      models: models.length,
      monthly_spend: cards.reduce((sum, c) => sum + c.summary.monthly_spend, 0),
      average_health: scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : null,
      scored: scored.length,
    },
  };
}

const byName = (a: ModelRow, b: ModelRow) =>
  a.display_name.localeCompare(b.display_name) || a.provider_display_name.localeCompare(b.provider_display_name);
/** Missing figures (no traffic) sort after every real one, whichever the direction. */
const nullsLast = (a: number | null, b: number | null, descending: boolean) =>
  a === null ? (b === null ? 0 : 1) : b === null ? -1 : descending ? b - a : a - b;

type ModelCard = ModelRow & {
  summary: Summary;
  deployments: { feature_name: string; feature_display_name: string; environment: string }[];
};

const listPrice = (m: ModelRow) => Number(m.input_price_per_1k) + Number(m.output_price_per_1k);
const performanceOf = (m: ModelCard) => performanceScore(m.summary)?.score ?? null;

const SORTS: Record<(typeof MODEL_SORTS)[number], (a: ModelCard, b: ModelCard) => number> = {
  name: byName,
  // Best first by the performance score (SPEC §4: uptime, speed, success), then the fastest.
  performance: (a, b) =>
    nullsLast(performanceOf(a), performanceOf(b), true) ||
    nullsLast(a.summary.response_time, b.summary.response_time, false) ||
    byName(a, b),
  // Cheapest first: list price per 1k tokens (input + output), then what a request cost over the day.
  cost: (a, b) => listPrice(a) - listPrice(b) || nullsLast(a.summary.cost_per_request, b.summary.cost_per_request, false) || byName(a, b),
  usage: (a, b) => b.summary.total_requests - a.summary.total_requests || byName(a, b),
};

/** How the Models tab offers each sort, saying what it orders by. */
const SORT_LABELS: Record<(typeof MODEL_SORTS)[number], string> = {
  name: 'Name',
  performance: 'Performance (score: uptime, speed, success)',
  cost: 'Cost (lowest price per 1k tokens first)',
  usage: 'Usage (most requests first)',
};
const SORT_CHOICES = MODEL_SORTS.map((s) => [s, SORT_LABELS[s]] as const);

/** Models tab: the catalogue searched (name or display name), filtered by provider and status, sorted, with 24 h figures. */
export async function catalogueModelsTab(db: Db, q: CatalogueQuery, now: Date) {
  const [allProviders, catalogue, serving] = await Promise.all([listProviders(db), listModels(db), activeDeployments(db)]);
  const needle = q.q?.toLowerCase();
  const all = q.archived ? catalogue : catalogue.filter((m) => !isArchived(m));
  const models = all.filter(
    (m) =>
      (!needle || m.name.toLowerCase().includes(needle) || m.display_name.toLowerCase().includes(needle)) &&
      (!q.provider || m.provider_name === q.provider) &&
      (!q.status || m.status === q.status),
  );
  const summaries = await modelSummaries(
    db,
    models.map((m) => m.id),
    MODELS_RANGE,
    now,
  );
  const cards: ModelCard[] = models.map((m) => ({
    ...m,
    summary: summaries.get(m.id)!,
    deployments: serving
      .filter((d) => d.model_id === m.id)
      .map((d) => ({ feature_name: d.feature_name, feature_display_name: d.feature_display_name, environment: d.environment })),
  }));
  cards.sort(SORTS[q.sort ?? 'name']);
  return {
    // The add-model form picks among the providers in use; the filter lists every one.
    providers: allProviders.filter((p) => !isArchived(p)),
    filterProviders: allProviders,
    archivedCount: catalogue.filter(isArchived).length,
    cards,
    total: all.length,
    statuses: MODEL_STATUSES,
    modelTypes: MODEL_TYPES,
    sorts: SORT_CHOICES,
  };
}

/** A CSV download holds the whole filtered history, up to this many rows. */
const CSV_DEPLOYMENTS = 10_000;

/** Deployments tab: the history, newest first, a page at a time (or all of it for CSV), filtered by feature, environment, status and model. */
export async function catalogueDeploymentsTab(db: Db, q: CatalogueQuery) {
  const filter = { feature: q.feature, environment: q.environment, status: q.status, model: q.model };
  const [features, page, model] = await Promise.all([
    listFeatures(db, { withArchived: true }),
    q.format === 'csv'
      ? deploymentsPage(db, CSV_DEPLOYMENTS, 0, filter)
      : deploymentsPage(db, DEPLOYMENTS_PER_PAGE, (q.page - 1) * DEPLOYMENTS_PER_PAGE, filter),
    q.model ? findModel(db, q.model) : undefined,
  ]);
  return {
    features,
    model,
    deployments: page.rows,
    total: page.total,
    pages: Math.max(1, Math.ceil(page.total / DEPLOYMENTS_PER_PAGE)),
    statuses: DEPLOYMENT_STATUSES,
    environments: ENVIRONMENTS,
  };
}

type TabData =
  | Awaited<ReturnType<typeof catalogueProvidersTab>>
  | Awaited<ReturnType<typeof catalogueModelsTab>>
  | Awaited<ReturnType<typeof catalogueDeploymentsTab>>;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

type ProviderCard = Awaited<ReturnType<typeof catalogueProvidersTab>>['cards'][number];
type DeploymentItem = Awaited<ReturnType<typeof catalogueDeploymentsTab>>['deployments'][number];

const PROVIDER_COLUMNS: CsvColumn<ProviderCard>[] = [
  ['name', (c) => c.name],
  ['display_name', (c) => c.display_name],
  ['kind', (c) => c.kind],
  ['status', (c) => c.status],
  ['models', (c) => c.model_count],
  ['serving_models', (c) => c.serving_models],
  ['monthly_spend_usd', (c) => c.summary.monthly_spend],
  ['health_score', (c) => c.summary.health_score],
  ['uptime_pct_24h', (c) => c.summary.uptime],
  ['response_time_ms_24h', (c) => c.summary.response_time],
  ['success_rate_pct_24h', (c) => c.summary.success_rate],
  ['requests_24h', (c) => c.summary.total_requests],
];

const MODEL_COLUMNS: CsvColumn<ModelCard>[] = [
  ['id', (m) => m.id],
  ['name', (m) => m.name],
  ['display_name', (m) => m.display_name],
  ['provider', (m) => m.provider_name],
  ['model_type', (m) => m.model_type],
  ['status', (m) => m.status],
  ['input_price_per_1k', (m) => m.input_price_per_1k],
  ['output_price_per_1k', (m) => m.output_price_per_1k],
  ['requests_24h', (m) => m.summary.total_requests],
  ['success_rate_pct_24h', (m) => m.summary.success_rate],
  ['response_time_ms_24h', (m) => m.summary.response_time],
  ['total_cost_usd_24h', (m) => m.summary.total_cost],
  ['serving', (m) => m.deployments.map((d) => `${d.feature_name}:${d.environment}`).join(' ')],
];

const DEPLOYMENT_COLUMNS: CsvColumn<DeploymentItem>[] = [
  ['id', (d) => d.id],
  ['started_at', (d) => iso(d.started_at)],
  ['finished_at', (d) => iso(d.finished_at)],
  ['feature', (d) => d.feature_name],
  ['environment', (d) => d.environment],
  ['model', (d) => d.model_display_name],
  ['kind', (d) => d.kind],
  ['status', (d) => d.status],
  ['requested_by', (d) => d.requested_by],
  ['error', (d) => d.error],
  // A prompt activation's version (the model is then the one it was checked with).
  ['prompt_version', (d) => d.prompt_version],
];

/** The tab's data as CSV (SPEC §5: every table answers format=csv): what the tab shows, one row per item. */
export function catalogueCsv(tab: CatalogueQuery['tab'], data: TabData): string {
  if (tab === 'providers') return csvOf(PROVIDER_COLUMNS, (data as Awaited<ReturnType<typeof catalogueProvidersTab>>).cards);
  if (tab === 'models') return csvOf(MODEL_COLUMNS, (data as Awaited<ReturnType<typeof catalogueModelsTab>>).cards);
  return csvOf(DEPLOYMENT_COLUMNS, (data as Awaited<ReturnType<typeof catalogueDeploymentsTab>>).deployments);
}
