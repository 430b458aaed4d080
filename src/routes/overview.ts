import { Router } from 'express';
import { openAlertList } from '../pages/alerts.ts';
import { globalOverview } from '../pages/overview.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/overview', partial: 'partials/overview/overview-body' };

/** The global overview, mounted at /platform/ai-management. */
export function overviewRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const [overview, openAlerts] = await Promise.all([globalOverview(db, new Date()), openAlertList(db, res.locals.fmt)]);
    render(req, res, VIEW, { title: 'Overview', overview, openAlerts });
  });
  return router;
}
