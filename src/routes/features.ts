import type { Request, Response } from 'express';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import {
  activeAssignments,
  ENVIRONMENTS,
  type Environment,
  type FeatureRow,
  findAssignment,
  findFeature,
  withAssignments,
} from '../db/queries/features.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { requireWrite } from '../middleware/auth.ts';
import { overviewCsv } from '../pages/feature-charts.ts';
import { NEXT_ENVIRONMENT } from '../pages/feature-models-tab.ts';
import {
  FEATURE_TARGETS,
  type FeaturesQuery,
  featureOverview,
  featuresPageParts,
  parseFeaturesQuery,
  selectedFeature,
} from '../pages/features.ts';
import type { Providers } from '../providers/index.ts';
import { type DeploymentKind, type DeployOutcome, deploy } from '../services/deployments.ts';
import { createFeature } from '../services/features.ts';
import { type FormState, render, targetId } from '../views.ts';

const PATH = '/platform/ai-management/features';

// One URL, four swap targets (see featuresPageParts for what each needs).
const VIEW = {
  page: 'pages/features',
  partial: 'partials/features/feature-workspace',
  targets: Object.fromEntries(FEATURE_TARGETS.map((id) => [id, `partials/features/${id}`])),
};

/** A card opens its feature as it was first shown: the overview of the last 24 hours. */
const cardLink = (slug: string) => `${PATH}?feature=${encodeURIComponent(slug)}`;

/** Links that keep the page's state and change one part of it. */
function linker(q: FeaturesQuery, feature?: string) {
  return (change: Partial<FeaturesQuery> = {}) => {
    const next: Partial<FeaturesQuery> = { feature, tab: q.tab, range: q.range, environment: q.environment, ...change };
    if (next.tab !== 'models') delete next.environment;
    const params = new URLSearchParams(Object.entries(next).filter((e): e is [string, string] => typeof e[1] === 'string'));
    return `${PATH}?${params}`;
  };
}

interface Extra {
  form?: FormState;
  /** A refused deployment, shown on the Models tab with its checks. */
  deployment?: Record<string, unknown>;
}

export function featureRoutes(db: Db, timeZone: string, providers: Providers): Router {
  const router = Router();

  async function show(req: Request, res: Response, query: unknown, extra: Extra = {}, status = 200) {
    const q = parseFeaturesQuery(query);
    const now = new Date();
    const feature = await selectedFeature(db, q.feature);
    if (q.format === 'csv') {
      if (!feature) throw new HttpError(404, 'There is no feature to export');
      const { metrics } = await featureOverview(db, feature, q.range, now, timeZone);
      res.type('text/csv').attachment(`${feature.name}-${q.range}.csv`).send(overviewCsv(metrics));
      return;
    }
    const part = req.htmx.request ? targetId(req) : undefined;
    const parts = await featuresPageParts(db, { feature, q, part, now, timeZone });
    render(
      req,
      res,
      VIEW,
      {
        title: feature ? `${feature.display_name} · Features` : 'Features',
        q,
        feature,
        ...parts,
        form: extra.form ?? { values: {}, errors: {} },
        deployment: extra.deployment,
        generatedAt: now,
        link: linker(q, feature?.name),
        cardLink,
        charts: true,
      },
      status,
    );
  }

  router.get(PATH, (req, res) => show(req, res, req.query));

  router.post(PATH, requireWrite, async (req, res) => {
    try {
      const feature = await createFeature(db, req.principal!, req.body ?? {});
      flash(req, 'success', `Feature “${feature.display_name}” added. Assign it a model in each environment from its Models tab.`);
      res.redirect(303, cardLink(feature.name));
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 422 && err.status !== 409)) throw err;
      await show(req, res, {}, { form: { values: req.body ?? {}, errors: err.details as Record<string, string> } }, err.status);
    }
  });

  // The Models tab's forms: a change, a promotion, a rollback — each through the deployment pipeline.
  // Success → 303 to the tab with a flash; a refusal → 422 (409 after a lost race) with its reasons
  // inline, in the tab (so an htmx swap of the panel keeps the tab whole).
  const modelsTabOf = (slug: string, environment?: Environment) => ({ feature: slug, tab: 'models', ...(environment && { environment }) });
  const isEnvironment = (v: unknown): v is Environment => typeof v === 'string' && (ENVIRONMENTS as string[]).includes(v);
  const refuse = (req: Request, res: Response, feature: FeatureRow, environment: Environment | undefined, error: string) =>
    show(req, res, modelsTabOf(feature.name, environment), { deployment: { error, checks: [] } }, 422);
  async function featureOf(req: Request): Promise<FeatureRow> {
    const feature = await findFeature(db, String(req.params.slug));
    if (!feature) throw notFound('Feature');
    return feature;
  }

  async function deployFromForm(
    req: Request,
    res: Response,
    feature: FeatureRow,
    change: { model_id: unknown; environment: Environment },
    kind: DeploymentKind,
  ) {
    let outcome: DeployOutcome;
    try {
      outcome = await deploy(db, providers, req.principal!, feature, change, kind);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 422) throw err;
      const reasons = Object.entries((err.details ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ');
      return refuse(req, res, feature, change.environment, `Nothing was deployed: ${reasons}`);
    }
    if (!outcome.ok)
      return show(req, res, modelsTabOf(feature.name, change.environment), { deployment: outcome.deployment }, outcome.status);
    flash(req, 'success', `Deployed to ${change.environment}: every check passed and the new model serves it now.`);
    const tab = modelsTabOf(feature.name, change.environment);
    // htmx gets the tab at once, with its URL (a promotion lands on the next environment); a form, a 303.
    if (!req.htmx.request) return res.redirect(303, `${PATH}?${new URLSearchParams(tab)}`);
    res.set('HX-Push-Url', `${PATH}?${new URLSearchParams(tab)}`);
    await show(req, res, tab);
  }

  router.post(`${PATH}/:slug/models`, requireWrite, async (req, res) => {
    const feature = await featureOf(req);
    const { model_id, environment } = req.body ?? {};
    if (model_id === undefined || model_id === '')
      return refuse(req, res, feature, isEnvironment(environment) ? environment : undefined, 'Choose a model first.');
    if (!isEnvironment(environment))
      return refuse(req, res, feature, undefined, `Nothing was deployed: environment must be one of ${ENVIRONMENTS.join(', ')}`);
    await deployFromForm(req, res, feature, { model_id, environment }, 'assign');
  });

  router.post(`${PATH}/:slug/promote`, requireWrite, async (req, res) => {
    const feature = await featureOf(req);
    const from = req.body?.from;
    const to = isEnvironment(from) ? NEXT_ENVIRONMENT[from] : undefined;
    if (!isEnvironment(from) || !to)
      return refuse(req, res, feature, undefined, 'Promotion goes from development to staging or from staging to production');
    const source = withAssignments([feature], await activeAssignments(db))[0].assignments[from];
    if (!source) return refuse(req, res, feature, from, `Nothing serves ${from}, so there is nothing to promote`);
    await deployFromForm(req, res, feature, { model_id: source.model_id, environment: to }, 'promote');
  });

  router.post(`${PATH}/:slug/rollback`, requireWrite, async (req, res) => {
    const feature = await featureOf(req);
    const id = z.uuid().safeParse(req.body?.assignment_id);
    const earlier = id.success ? await findAssignment(db, feature.name, id.data) : undefined;
    if (!earlier) return refuse(req, res, feature, undefined, 'Choose an earlier assignment of this feature to roll back to');
    await deployFromForm(req, res, feature, { model_id: earlier.model_id, environment: earlier.environment }, 'rollback');
  });

  return router;
}
