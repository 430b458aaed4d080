import { Router } from 'express';
import { assignmentHistory, findFeature } from '../../db/queries/features.ts';
import { notFound } from '../../http/errors.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { deployOrRequest } from '../../services/change-requests.ts';
import type { RouteDeps } from '../deps.ts';
import { answerRequested } from './change-requests.ts';

/** A feature's model assignments, changed only through the deployment pipeline (SPEC §6, §7); mounted at /api/platform/ai-management. */
export function assignmentApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();

  router.get('/features/:id/models', requireRead, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const history = await assignmentHistory(db, feature.id);
    res.json({ success: true, data: { active: history.filter((a) => a.is_active), history } });
  });

  router.post('/features/:id/models', requireWrite, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const change = await deployOrRequest(db, providers, req.principal!, feature, req.body ?? {}, 'assign', new Date());
    // A protected environment: the change waits for another admin; nothing was applied.
    if ('requested' in change) return answerRequested(res, change.requested, 'change');
    const outcome = change.applied;
    if (outcome.ok)
      return void res.status(201).json({ success: true, data: { assignment: outcome.assignment, deployment: outcome.deployment } });
    res
      .status(outcome.status)
      .json({ success: false, error: String(outcome.deployment.error), details: { deployment: outcome.deployment } });
  });

  return router;
}
