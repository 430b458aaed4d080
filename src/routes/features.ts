import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { flash } from '../flash.ts';
import { HttpError } from '../http-error.ts';
import { requireWrite } from '../middleware/auth.ts';
import { createFeature } from '../services/features.ts';
import {
  FEATURE_TARGETS, type FeaturesQuery, featureOverview, featuresPageParts, parseFeaturesQuery, selectedFeature,
} from '../services/features-page.ts';
import { overviewCsv } from '../services/overview-charts.ts';
import { render, targetId } from '../views.ts';

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

export function featureRoutes(db: Db, timeZone: string): Router {
  const router = Router();

  async function show(req: Request, res: Response, form: { values: object; errors: Record<string, string> }, status = 200) {
    const q = parseFeaturesQuery(req.method === 'GET' ? req.query : {});
    const now = new Date();
    const feature = await selectedFeature(db, q.feature);
    if (q.format === 'csv') {
      if (!feature) throw new HttpError(404, 'There is no feature to export');
      const { metrics } = await featureOverview(db, feature, q.range, now, timeZone);
      res.type('text/csv').attachment(`${feature.name}-${q.range}.csv`).send(overviewCsv(metrics));
      return;
    }
    const part = req.htmx.request ? targetId(req) : undefined;
    const { cards, overview, tab } = await featuresPageParts(db, { feature, q, part, now, timeZone });
    render(req, res, VIEW, {
      title: feature ? `${feature.display_name} · Features` : 'Features',
      q, feature, cards, overview, tab, form, generatedAt: now, link: linker(q, feature?.name), cardLink, charts: true,
    }, status);
  }

  router.get(PATH, (req, res) => show(req, res, { values: {}, errors: {} }));

  router.post(PATH, requireWrite, async (req, res) => {
    try {
      const feature = await createFeature(db, req.principal!, req.body ?? {});
      flash(req, 'success', `Feature “${feature.display_name}” added. Assign it a model in each environment from its Models tab.`);
      res.redirect(303, `${PATH}?feature=${encodeURIComponent(feature.name)}`);
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 422 && err.status !== 409)) throw err;
      await show(req, res, { values: req.body ?? {}, errors: err.details as Record<string, string> }, err.status);
    }
  });

  return router;
}
