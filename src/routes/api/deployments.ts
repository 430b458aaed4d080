import { Router } from 'express';
import { z } from 'zod';
import { deploymentsPage } from '../../db/queries/deployments.ts';
import { DEPLOYMENT_STATUSES, ENVIRONMENTS } from '../../domain.ts';
import { choice, parseQuery } from '../../http/query.ts';
import { requireRead } from '../../middleware/auth.ts';
import type { RouteDeps } from '../deps.ts';

const pageParam = (max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `must be a whole number from 0 to ${max}`)
    .transform(Number)
    .refine((n) => n <= max, `must be a whole number from 0 to ${max}`);

const querySchema = z.object({
  limit: pageParam(200).default(50),
  offset: pageParam(1_000_000).default(0),
  feature: z.string().max(100, 'must be at most 100 characters').optional(),
  environment: choice(ENVIRONMENTS).optional(),
  status: choice(DEPLOYMENT_STATUSES).optional(),
  model: z.uuid({ message: 'must be the id of a model' }).optional(),
});

/** The deployments history, newest first, paged and filtered; mounted at /api/platform/ai-management. */
export function deploymentApiRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/deployments', requireRead, async (req, res) => {
    const { limit, offset, ...filter } = parseQuery(querySchema, req.query);
    const { rows, total } = await deploymentsPage(db, limit, offset, filter);
    res.json({ success: true, data: rows, metadata: { limit, offset, total, ...filter } });
  });
  return router;
}
