import { Router } from 'express';
import { findDeployment } from '../db/queries/deployments.ts';
import { isUuid } from '../domain.ts';
import { render } from '../views.ts';
import { loader, type RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/deployment', partial: 'partials/deployments/deployment-status' };

/**
 * A deployment's page, mounted at /platform/ai-management/deployments: its checks, step by step; it
 * refreshes itself while the deployment runs.
 */
export function deploymentRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.param(
    'id',
    loader('deployment', 'Deployment', (id) => findDeployment(db, id), isUuid),
  );
  router.get('/:id', (req, res) => {
    const { deployment } = res.locals;
    render(req, res, VIEW, { title: 'Deployment', deployment, running: deployment.status === 'in_progress' });
  });
  return router;
}
