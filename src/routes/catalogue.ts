import { Router } from 'express';
import { listModels, listProviders } from '../db/queries/catalogue.ts';
import type { Db } from '../db/knex.ts';
import { render } from '../views.ts';

export function catalogueRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management/models', async (req, res) => {
    const [providers, models] = await Promise.all([listProviders(db), listModels(db)]);
    render(req, res, { page: 'pages/catalogue' }, { title: 'Models & Providers', providers, models });
  });
  return router;
}
