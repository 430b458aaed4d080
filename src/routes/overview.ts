import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { globalOverview } from '../pages/overview.ts';
import { render } from '../views.ts';

const VIEW = { page: 'pages/overview', partial: 'partials/overview/overview-body' };

export function overviewRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management', async (req, res) => {
    render(req, res, VIEW, { title: 'Overview', overview: await globalOverview(db, new Date()) });
  });
  return router;
}
