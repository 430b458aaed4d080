import { type Request, Router } from 'express';
import { findFeature } from '../../db/queries/features.ts';
import { testRunById } from '../../db/queries/test-runs.ts';
import { isUuid } from '../../domain.ts';
import { notFound } from '../../http/errors.ts';
import { url } from '../../http/urls.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { testRunJson } from '../../pages/test-runs.ts';
import { playgroundCall, playgroundInputOf } from '../../services/playground.ts';
import { startRun } from '../../services/test-runs.ts';
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
  router.post('/features/:id/test-runs', requireWrite, async (req, res) => {
    const feature = await featureOf(deps, req);
    const { run } = await startRun(deps.db, req.principal!, feature, req.body);
    const estimate = { usd: run.estimate_usd, cost_cap_usd: run.cost_cap_usd, cases: run.cases_total };
    res
      .status(202)
      .location(url.testRunApi(run.id))
      .json({ success: true, data: { id: run.id, status: run.status, estimate } });
  });
  router.get('/test-runs/:id', requireRead, async (req, res) => {
    const id = String(req.params.id);
    const run = isUuid(id) ? await testRunById(deps.db, id) : undefined;
    if (!run) throw notFound('Test run');
    res.json({ success: true, data: await testRunJson(deps.db, run) });
  });
  return router;
}
