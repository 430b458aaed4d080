import { Router } from 'express';
import { activeAssignments, ENVIRONMENTS, listFeatures, withAssignments } from '../db/queries/features.ts';
import { recentDeployments } from '../db/queries/history.ts';
import type { Db } from '../db/knex.ts';
import { render } from '../views.ts';

export function overviewRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management', async (req, res) => {
    const [features, assignments, deployments] = await Promise.all([listFeatures(db), activeAssignments(db), recentDeployments(db, 10)]);
    render(req, res, { page: 'pages/overview' }, { title: 'Overview', features: withAssignments(features, assignments), deployments, environments: ENVIRONMENTS });
  });
  return router;
}
