import { Router } from 'express';
import { globalOverview } from '../pages/overview.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/overview', partial: 'partials/overview/overview-body' };

/** The global overview, mounted at /platform/ai-management. */
export function overviewRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => render(req, res, VIEW, { title: 'Overview', overview: await globalOverview(db, new Date()) }));
  return router;
}
