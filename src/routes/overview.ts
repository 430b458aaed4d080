import { Router } from 'express';
import { z } from 'zod';
import { formatParam, parseQuery } from '../http/query.ts';
import { openAlertList } from '../pages/alerts.ts';
import { globalOverview, overviewCsv } from '../pages/overview.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/overview', partial: 'partials/overview/overview-body' };
const querySchema = z.object({ format: formatParam });

/** The global overview, mounted at /platform/ai-management; `format=csv` has every feature's row. */
export function overviewRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const q = parseQuery(querySchema, req.query);
    if (q.format === 'csv')
      return void res
        .type('text/csv')
        .attachment('features-overview.csv')
        .send(overviewCsv(await globalOverview(db, new Date())));
    const [overview, openAlerts] = await Promise.all([globalOverview(db, new Date()), openAlertList(db, res.locals.fmt)]);
    render(req, res, VIEW, { title: 'Overview', overview, openAlerts });
  });
  return router;
}
