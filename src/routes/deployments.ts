import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { findDeployment } from '../db/queries/deployments.ts';
import { notFound } from '../http/errors.ts';
import { render } from '../views.ts';

const VIEW = { page: 'pages/deployment', partial: 'partials/deployments/deployment-status' };

/** A deployment's page: its checks, step by step; it refreshes itself while the deployment runs. */
export function deploymentRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management/deployments/:id', async (req, res) => {
    const id = z.uuid().safeParse(req.params.id);
    const deployment = id.success ? await findDeployment(db, id.data) : undefined;
    if (!deployment) throw notFound('Deployment');
    render(req, res, VIEW, { title: 'Deployment', deployment, running: deployment.status === 'in_progress' });
  });
  return router;
}
