import { Router } from 'express';
import { activeAssignments, ENVIRONMENTS, listFeatures, withAssignments } from '../db/queries/features.ts';
import type { Db } from '../db/knex.ts';
import { render } from '../views.ts';

export function featureRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management/features', async (req, res) => {
    const [features, assignments] = await Promise.all([listFeatures(db), activeAssignments(db)]);
    render(req, res, { page: 'pages/features' }, { title: 'Features', features: withAssignments(features, assignments), environments: ENVIRONMENTS });
  });
  return router;
}
