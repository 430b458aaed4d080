import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { flash } from '../flash.ts';
import { HttpError } from '../http-error.ts';
import { requireWrite } from '../middleware/auth.ts';
import { createFeature } from '../services/features.ts';
import {
  type FeaturesQuery, featureCards, featureOverview, featureTab, parseFeaturesQuery, selectedFeature,
} from '../services/features-page.ts';
import { overviewCsv } from '../services/overview-charts.ts';
import { render, targetId } from '../views.ts';

const PATH = '/platform/ai-management/features';

// One URL, four swap targets: the cards (polled), the workspace (cards and the selected feature),
// the selected feature's panel (tabs) and the overview tab (ranges, polled).
const VIEW = {
  page: 'pages/features',
  partial: 'partials/features/feature-workspace',
  targets: {
    'feature-workspace': 'partials/features/feature-workspace',
    'feature-cards': 'partials/features/feature-cards',
    'feature-panel': 'partials/features/feature-panel',
    'feature-overview': 'partials/features/feature-overview',
  },
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
    if ((part === 'feature-panel' || part === 'feature-overview') && !feature) throw new HttpError(404, 'There is no feature to show');
    if (part === 'feature-overview' && q.tab !== 'overview') throw new HttpError(400, 'The overview fragment needs tab=overview');
    const wantsCards = !part || !(part in VIEW.targets) || part === 'feature-workspace' || part === 'feature-cards';
    const wantsPanel = feature && part !== 'feature-cards';
    const [cards, overview, tab] = await Promise.all([
      wantsCards ? featureCards(db, now) : undefined,
      wantsPanel && q.tab === 'overview' ? featureOverview(db, feature, q.range, now, timeZone) : undefined,
      wantsPanel && q.tab !== 'overview' ? featureTab(db, feature, q.tab) : undefined,
    ]);
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
