import { type Request, Router } from 'express';
import { findFeature } from '../../db/queries/features.ts';
import { notFound } from '../../http/errors.ts';
import { requireWrite } from '../../middleware/auth.ts';
import { playgroundCall, playgroundInputOf } from '../../services/playground.ts';
import type { RouteDeps } from '../deps.ts';

/** The feature the URL's `:id` names (an id or a slug), or 404. */
export const featureOf = async (deps: RouteDeps, req: Request) => {
  const feature = await findFeature(deps.db, String(req.params.id));
  if (!feature) throw notFound('Feature');
  return feature;
};

/** The Testing tab's API (SPEC §10.2), mounted at /api/platform/ai-management. */
export function testingApiRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.post('/features/:id/playground', requireWrite, async (req, res) => {
    const feature = await featureOf(deps, req);
    const result = await playgroundCall(deps.db, deps.providers, req.principal!, feature, playgroundInputOf(req.body));
    res.json({ success: true, data: result });
  });
  return router;
}
