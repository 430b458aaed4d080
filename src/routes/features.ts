import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { activeAssignments } from '../db/queries/assignments.ts';
import { type FeatureRow, findAssignment, findFeature, withAssignments } from '../db/queries/features.ts';
import { type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { HttpError, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url, withQuery } from '../http/urls.ts';
import { hasEventsSince } from '../metrics/queries.ts';
import { requireWrite } from '../middleware/auth.ts';
import { overviewCsv } from '../pages/feature-charts.ts';
import { NEXT_ENVIRONMENT } from '../pages/feature-models-tab.ts';
import {
  environmentFilter,
  FEATURE_TARGETS,
  type FeaturesQuery,
  featureOverview,
  featuresPageParts,
  featuresQuerySchema,
  figuresEnvironmentOf,
  selectedFeature,
} from '../pages/features.ts';
import { type DeployOutcome, deploy } from '../services/deployments.ts';
import { createFeature } from '../services/features.ts';
import { type FormState, render, targetId } from '../views.ts';
import { loader, type RouteDeps } from './deps.ts';

// One URL, four swap targets (see featuresPageParts for what each needs).
const VIEW = {
  page: 'pages/features',
  partial: 'partials/features/feature-workspace',
  targets: Object.fromEntries(FEATURE_TARGETS.map((id) => [id, `partials/features/${id}`])),
};

/** The features page (SPEC §5) and the Models tab's forms, mounted at /platform/ai-management/features. */
export function featureRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.param(
    'slug',
    loader('feature', 'Feature', (slug) => findFeature(deps.db, slug)),
  );
  router.get('/', (req, res) => show(deps, req, res, req.query));
  router.get('/:slug/live', (req, res) => liveCheck(deps, req, res));
  router.post('/', requireWrite, (req, res) => addFeature(deps, req, res));
  router.post('/:slug/models', requireWrite, (req, res) => changeModel(deps, req, res));
  router.post('/:slug/promote', requireWrite, (req, res) => promote(deps, req, res));
  router.post('/:slug/rollback', requireWrite, (req, res) => rollback(deps, req, res));
  return router;
}

/** A card opens its feature as it was first shown: the overview of the last 24 hours. */
const cardLink = (slug: string) => url.features({ feature: slug });

/** Links that keep the page's state (range and environment across tabs) and change one part of it. */
function linker(q: FeaturesQuery, feature?: string) {
  return linkKeeping<Partial<FeaturesQuery>>(url.features(), { feature, tab: q.tab, range: q.range, environment: q.environment });
}

/** The live check of the overview as of an event id (see liveCheck). */
const liveLinker = (slug: string, q: FeaturesQuery) => (since: number) =>
  withQuery(url.featureAction(slug, 'live'), { since, environment: q.environment });

interface Extra {
  form?: FormState;
  /** A refused deployment, shown on the Models tab with its checks. */
  deployment?: Record<string, unknown>;
}

async function show(deps: RouteDeps, req: Request, res: Response, query: unknown, extra: Extra = {}, status = 200) {
  const { db, timeZone } = deps;
  const q = parseQuery(featuresQuerySchema, query);
  const now = new Date();
  const feature = await selectedFeature(db, q.feature);
  if (q.format === 'csv') {
    if (!feature) throw new HttpError(404, 'There is no feature to export');
    const environment = figuresEnvironmentOf(q);
    const { metrics } = await featureOverview(db, feature, { range: q.range, environment }, now, timeZone);
    return void res.type('text/csv').attachment(`${feature.name}-${environment}-${q.range}.csv`).send(overviewCsv(metrics));
  }
  const part = req.htmx.request ? targetId(req) : undefined;
  const parts = await featuresPageParts(db, { feature, q, part, now, timeZone });
  const title = feature ? `${feature.display_name} · Features` : 'Features';
  const form = extra.form ?? { values: {}, errors: {} };
  const links = { link: linker(q, feature?.name), cardLink, liveLink: feature && liveLinker(feature.name, q) };
  render(
    req,
    res,
    VIEW,
    { title, q, feature, ...parts, form, deployment: extra.deployment, generatedAt: now, ...links, charts: parts.overview !== undefined },
    status,
  );
}

const liveQuerySchema = z.object({
  since: z.coerce.number().int('must be a whole number').min(0, 'must be 0 or more'),
  environment: featuresQuerySchema.shape.environment,
});

/**
 * The live check the open overview polls every few seconds (public/js/live.js): 204 and no body while
 * the feature has no event in the environment past `since`, else 200 and the page refreshes its
 * overview (which carries the next `since`). Figures include rows not rolled up yet, so no rollup has
 * to run first.
 */
async function liveCheck(deps: RouteDeps, req: Request, res: Response) {
  const q = parseQuery(liveQuerySchema, req.query);
  if (!(await hasEventsSince(deps.db, featureIn(res).id, environmentFilter(figuresEnvironmentOf(q)), q.since)))
    return void res.status(204).end();
  res.json({ changed: true });
}

async function addFeature(deps: RouteDeps, req: Request, res: Response) {
  try {
    const feature = await createFeature(deps.db, req.principal!, req.body ?? {});
    flash(req, 'success', `Feature “${feature.display_name}” added. Assign it a model in each environment from its Models tab.`);
    res.redirect(303, cardLink(feature.name));
  } catch (err) {
    const refusal = refusalOf(err);
    await show(deps, req, res, {}, { form: { values: req.body ?? {}, errors: refusal.fields } }, refusal.status);
  }
}

// The Models tab's forms: a change, a promotion, a rollback — each through the deployment pipeline.
// Success → 303 to the tab with a flash; a refusal → 422 (409 after a lost race) with its reasons
// inline, in the tab (so an htmx swap of the panel keeps the tab whole).

const modelsTabOf = (slug: string, environment?: Environment) => ({ feature: slug, tab: 'models' as const, environment });
const isEnvironment = (v: unknown): v is Environment => typeof v === 'string' && (ENVIRONMENTS as readonly string[]).includes(v);
const featureIn = (res: Response) => res.locals.feature as FeatureRow;

const refuse = (deps: RouteDeps, req: Request, res: Response, environment: Environment | undefined, error: string) =>
  show(deps, req, res, modelsTabOf(featureIn(res).name, environment), { deployment: { error, checks: [] } }, 422);

type Change = { model_id: unknown; environment: Environment };

async function deployFromForm(deps: RouteDeps, req: Request, res: Response, change: Change, kind: DeploymentKind) {
  const feature = featureIn(res);
  let outcome: DeployOutcome;
  try {
    outcome = await deploy(deps.db, deps.providers, req.principal!, feature, change, kind);
  } catch (err) {
    return refuse(deps, req, res, change.environment, `Nothing was deployed: ${refusalOf(err).reasons}`);
  }
  const tab = modelsTabOf(feature.name, change.environment);
  if (!outcome.ok) return show(deps, req, res, tab, { deployment: outcome.deployment }, outcome.status);
  flash(req, 'success', `Deployed to ${change.environment}: every check passed and the new model serves it now.`);
  // htmx gets the tab at once, with its URL (a promotion lands on the next environment); a form, a 303.
  if (!req.htmx.request) return res.redirect(303, url.features(tab));
  res.set('HX-Push-Url', url.features(tab));
  await show(deps, req, res, tab);
}

async function changeModel(deps: RouteDeps, req: Request, res: Response) {
  const { model_id, environment } = req.body ?? {};
  if (model_id === undefined || model_id === '')
    return refuse(deps, req, res, isEnvironment(environment) ? environment : undefined, 'Choose a model first.');
  if (!isEnvironment(environment))
    return refuse(deps, req, res, undefined, `Nothing was deployed: environment must be one of ${ENVIRONMENTS.join(', ')}`);
  await deployFromForm(deps, req, res, { model_id, environment }, 'assign');
}

async function promote(deps: RouteDeps, req: Request, res: Response) {
  const from = req.body?.from;
  const to = isEnvironment(from) ? NEXT_ENVIRONMENT[from] : undefined;
  if (!isEnvironment(from) || !to)
    return refuse(deps, req, res, undefined, 'Promotion goes from development to staging or from staging to production');
  const source = withAssignments([featureIn(res)], await activeAssignments(deps.db))[0].assignments[from];
  if (!source) return refuse(deps, req, res, from, `Nothing serves ${from}, so there is nothing to promote`);
  await deployFromForm(deps, req, res, { model_id: source.model_id, environment: to }, 'promote');
}

async function rollback(deps: RouteDeps, req: Request, res: Response) {
  const id = z.uuid().safeParse(req.body?.assignment_id);
  const earlier = id.success ? await findAssignment(deps.db, featureIn(res).name, id.data) : undefined;
  if (!earlier) return refuse(deps, req, res, undefined, 'Choose an earlier assignment of this feature to roll back to');
  await deployFromForm(deps, req, res, { model_id: earlier.model_id, environment: earlier.environment }, 'rollback');
}
