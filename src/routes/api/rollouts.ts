import { Router } from 'express';
import { findFeature } from '../../db/queries/features.ts';
import { isUuid } from '../../domain.ts';
import { notFound } from '../../http/errors.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { rolloutView } from '../../pages/rollout.ts';
import { startOrRequest } from '../../services/change-requests.ts';
import { changeRollout, completeRollout, type Rollout, type RolloutAction } from '../../services/rollouts.ts';
import { loader, type RouteDeps } from '../deps.ts';
import { answerRequested } from './change-requests.ts';

const ACTIONS: RolloutAction[] = ['percent', 'pause', 'resume', 'rollback', 'abort'];

/** Gradual rollouts (SPEC §10.5, issue 18); mounted at /api/platform/ai-management. */
export function rolloutApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();
  router.param(
    'rollout',
    loader('rollout', 'Rollout', (id) => db('rollouts').where({ id }).first(), isUuid),
  );

  router.post('/features/:id/rollouts', requireWrite, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const outcome = await startOrRequest(db, providers, req.principal!, feature, req.body ?? {}, new Date());
    if ('requested' in outcome) return answerRequested(res, outcome.requested, 'rollout');
    res.status(201).json({ success: true, data: await rolloutView(db, outcome.started, new Date()) });
  });

  router.get('/rollouts/:rollout', requireRead, async (_req, res) => {
    res.json({ success: true, data: await rolloutView(db, res.locals.rollout as Rollout, new Date()) });
  });

  router.post('/rollouts/:rollout/complete', requireWrite, async (req, res) => {
    const rollout = res.locals.rollout as Rollout;
    const feature = await findFeature(db, rollout.feature_id);
    if (!feature) throw notFound('Feature');
    const done = await completeRollout(db, providers, req.principal!, feature, rollout);
    res.json({ success: true, data: await rolloutView(db, done, new Date()) });
  });

  for (const action of ACTIONS)
    router.post(`/rollouts/:rollout/${action}`, requireWrite, async (req, res) => {
      const next = await changeRollout(db, req.principal!, (res.locals.rollout as Rollout).id, action, req.body ?? {});
      res.json({ success: true, data: await rolloutView(db, next, new Date()) });
    });
  return router;
}
