import { Router } from 'express';
import { assignmentHistory, findFeature } from '../../db/queries/features.ts';
import { deploymentsPage } from '../../db/queries/history.ts';
import type { Db } from '../../db/knex.ts';
import { HttpError, notFound } from '../../http-error.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import type { Providers } from '../../providers/index.ts';
import { deploy } from '../../services/deployments.ts';

const BASE = '/platform/ai-management';

const pageParam = (value: unknown, fallback: number, max: number, name: string) => {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > max) throw new HttpError(400, `${name} must be a whole number from 0 to ${max}`);
  return n;
};

/** Model assignments through the deployment pipeline (SPEC §6, §7), and the deployments history. */
export function assignmentApiRoutes(db: Db, providers: Providers): Router {
  const router = Router();

  router.get(`${BASE}/features/:id/models`, requireRead, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const history = await assignmentHistory(db, feature.id);
    res.json({ success: true, data: { active: history.filter((a) => a.is_active), history } });
  });

  router.post(`${BASE}/features/:id/models`, requireWrite, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const outcome = await deploy(db, providers, req.principal!, feature, req.body ?? {});
    if (outcome.ok) return void res.status(201).json({ success: true, data: { assignment: outcome.assignment, deployment: outcome.deployment } });
    res.status(outcome.status).json({ success: false, error: String(outcome.deployment.error), details: { deployment: outcome.deployment } });
  });

  router.get(`${BASE}/deployments`, requireRead, async (req, res) => {
    const limit = pageParam(req.query.limit, 50, 200, 'limit');
    const offset = pageParam(req.query.offset, 0, 1_000_000, 'offset');
    const { rows, total } = await deploymentsPage(db, limit, offset);
    res.json({ success: true, data: rows, metadata: { limit, offset, total } });
  });

  return router;
}
