import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { activeAssignments } from '../db/queries/assignments.ts';
import { type FeatureRow, findAssignment, findFeature, withAssignments } from '../db/queries/features.ts';
import { type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { HttpError, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { type Confirmation, deployConfirmation, deployNeedsConfirmation, isConfirmed } from '../pages/confirmations.ts';
import { overviewCsv } from '../pages/feature-charts.ts';
import { NEXT_ENVIRONMENT } from '../pages/feature-models-tab.ts';
import {
  FEATURE_TARGETS,
  type FeaturesQuery,
  featureOverview,
  featuresPageParts,
  featuresQuerySchema,
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
  router.post('/', requireWrite, (req, res) => addFeature(deps, req, res));
  router.post('/:slug/models', requireWrite, (req, res) => changeModel(deps, req, res));
  router.post('/:slug/promote', requireWrite, (req, res) => promote(deps, req, res));
  router.post('/:slug/rollback', requireWrite, (req, res) => rollback(deps, req, res));
  return router;
}

/** A card opens its feature as it was first shown: the overview of the last 24 hours. */
const cardLink = (slug: string) => url.features({ feature: slug });

/** Links that keep the page's state and change one part of it (the environment belongs to the Models tab). */
function linker(q: FeaturesQuery, feature?: string) {
  const keep = linkKeeping<Partial<FeaturesQuery>>(url.features(), { feature, tab: q.tab, range: q.range, environment: q.environment });
  return (change: Partial<FeaturesQuery> = {}) =>
    keep({ ...change, ...((change.tab ?? q.tab) !== 'models' && { environment: undefined }) });
}

interface Extra {
  form?: FormState;
  /** A refused deployment, shown on the Models tab with its checks. */
  deployment?: Record<string, unknown>;
  /** A deployment waiting for the admin's confirmation (production, rollbacks). */
  confirmation?: Confirmation;
  /** The model the admin chose, kept checked after a refusal. */
  chosen?: unknown;
}

async function show(deps: RouteDeps, req: Request, res: Response, query: unknown, extra: Extra = {}, status = 200) {
  const { db, timeZone } = deps;
  const q = parseQuery(featuresQuerySchema, query);
  const now = new Date();
  const feature = await selectedFeature(db, q.feature);
  if (q.format === 'csv') {
    if (!feature) throw new HttpError(404, 'There is no feature to export');
    const { metrics } = await featureOverview(db, feature, q.range, now, timeZone);
    return void res.type('text/csv').attachment(`${feature.name}-${q.range}.csv`).send(overviewCsv(metrics));
  }
  const part = req.htmx.request ? targetId(req) : undefined;
  const parts = await featuresPageParts(db, { feature, q, part, now, timeZone });
  const title = feature ? `${feature.display_name} · Features` : 'Features';
  const form = extra.form ?? { values: {}, errors: {} };
  const links = { link: linker(q, feature?.name), cardLink };
  render(
    req,
    res,
    VIEW,
    {
      title,
      q,
      feature,
      ...parts,
      form,
      deployment: extra.deployment,
      confirmation: extra.confirmation,
      confirmationTarget: '#feature-panel',
      confirmationLevel: 3,
      chosenModel: extra.chosen,
      generatedAt: now,
      ...links,
      charts: true,
    },
    status,
  );
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

const refuse = (deps: RouteDeps, req: Request, res: Response, environment: Environment | undefined, error: string, chosen?: unknown) =>
  show(deps, req, res, modelsTabOf(featureIn(res).name, environment), { deployment: { error, checks: [] }, chosen }, 422);

type Change = { model_id: unknown; environment: Environment };
/** The form as posted (re-posted by the confirmation) and the environment whose tab it was on. */
type Posted = { action: string; fields: Record<string, string>; back: Environment };

async function deployFromForm(deps: RouteDeps, req: Request, res: Response, change: Change, kind: DeploymentKind, posted: Posted) {
  const feature = featureIn(res);
  const chosen = kind === 'assign' ? change.model_id : undefined;
  if (deployNeedsConfirmation(kind, change.environment) && !isConfirmed(req.body)) {
    const cancel = url.features(modelsTabOf(feature.name, posted.back));
    const form = { action: url.featureAction(feature.name, posted.action), fields: posted.fields, cancel };
    const confirmation = await deployConfirmation(deps.db, feature, { ...change, model_id: String(change.model_id) }, kind, form);
    if (confirmation) return show(deps, req, res, modelsTabOf(feature.name, posted.back), { confirmation, chosen });
  }
  let outcome: DeployOutcome;
  try {
    outcome = await deploy(deps.db, deps.providers, req.principal!, feature, change, kind);
  } catch (err) {
    return refuse(deps, req, res, change.environment, `Nothing was deployed: ${refusalOf(err).reasons}`, chosen);
  }
  const tab = modelsTabOf(feature.name, change.environment);
  if (!outcome.ok) return show(deps, req, res, tab, { deployment: outcome.deployment, chosen }, outcome.status);
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
  const posted = { action: 'models', fields: { model_id: String(model_id), environment }, back: environment };
  await deployFromForm(deps, req, res, { model_id, environment }, 'assign', posted);
}

async function promote(deps: RouteDeps, req: Request, res: Response) {
  const from = req.body?.from;
  const to = isEnvironment(from) ? NEXT_ENVIRONMENT[from] : undefined;
  if (!isEnvironment(from) || !to)
    return refuse(deps, req, res, undefined, 'Promotion goes from development to staging or from staging to production');
  const source = withAssignments([featureIn(res)], await activeAssignments(deps.db))[0].assignments[from];
  if (!source) return refuse(deps, req, res, from, `Nothing serves ${from}, so there is nothing to promote`);
  await deployFromForm(deps, req, res, { model_id: source.model_id, environment: to }, 'promote', {
    action: 'promote',
    fields: { from },
    back: from,
  });
}

async function rollback(deps: RouteDeps, req: Request, res: Response) {
  const id = z.uuid().safeParse(req.body?.assignment_id);
  const earlier = id.success ? await findAssignment(deps.db, featureIn(res).name, id.data) : undefined;
  if (!earlier) return refuse(deps, req, res, undefined, 'Choose an earlier assignment of this feature to roll back to');
  const { model_id, environment } = earlier;
  const posted = { action: 'rollback', fields: { assignment_id: id.data as string }, back: environment };
  await deployFromForm(deps, req, res, { model_id, environment }, 'rollback', posted);
}
