import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/knex.ts';
import { findSimulatorModel } from '../../db/queries/catalogue.ts';
import { deploymentsPage } from '../../db/queries/deployments.ts';
import { assignmentHistory, findFeature } from '../../db/queries/features.ts';
import { DEPLOYMENT_STATUSES, ENVIRONMENTS } from '../../domain.ts';
import { HttpError, notFound } from '../../http/errors.ts';
import { fieldErrors } from '../../http/validation.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import type { Providers } from '../../providers/index.ts';
import { recordAudit } from '../../services/audit.ts';
import { deploy } from '../../services/deployments.ts';

const BASE = '/platform/ai-management';

const simulatorBehaviourSchema = z.object({
  latency_ms: z
    .number({ message: 'must be a number of milliseconds' })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(120_000, 'must be at most 120000'),
  error_rate: z.number({ message: 'must be a number from 0 to 1' }).min(0, 'must be 0 or more').max(1, 'must be at most 1'),
});

const deploymentFilterSchema = z.object({
  feature: z.string().max(100, 'must be at most 100 characters').optional(),
  environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` }).optional(),
  status: z.enum(DEPLOYMENT_STATUSES, { message: `must be one of ${DEPLOYMENT_STATUSES.join(', ')}` }).optional(),
  model: z.uuid({ message: 'must be the id of a model' }).optional(),
});

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
    if (outcome.ok)
      return void res.status(201).json({ success: true, data: { assignment: outcome.assignment, deployment: outcome.deployment } });
    res
      .status(outcome.status)
      .json({ success: false, error: String(outcome.deployment.error), details: { deployment: outcome.deployment } });
  });

  // How the built-in simulator answers for a model: lets an admin rehearse a failing or slow provider.
  router.put(`${BASE}/simulator/models/:name`, requireWrite, async (req, res) => {
    const parsed = simulatorBehaviourSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw new HttpError(422, 'Invalid simulator behaviour', fieldErrors(parsed.error));
    const name = String(req.params.name);
    const model = await findSimulatorModel(db, name);
    if (!model) throw notFound('Simulator model');
    (await providers.simulator()).configure(name, { latencyMs: parsed.data.latency_ms, errorRate: parsed.data.error_rate });
    await recordAudit(db, req.principal!, { action: 'simulator.configured', entityType: 'model', entityId: model.id, after: parsed.data });
    res.json({ success: true, data: { model: name, ...parsed.data } });
  });

  router.get(`${BASE}/deployments`, requireRead, async (req, res) => {
    const limit = pageParam(req.query.limit, 50, 200, 'limit');
    const offset = pageParam(req.query.offset, 0, 1_000_000, 'offset');
    const filter = deploymentFilterSchema.safeParse(
      Object.fromEntries(['feature', 'environment', 'status', 'model'].map((k) => [k, req.query[k] || undefined])),
    );
    if (!filter.success) throw new HttpError(400, `${String(filter.error.issues[0].path[0])} ${filter.error.issues[0].message}`);
    const { rows, total } = await deploymentsPage(db, limit, offset, filter.data);
    res.json({ success: true, data: rows, metadata: { limit, offset, total, ...filter.data } });
  });

  return router;
}
