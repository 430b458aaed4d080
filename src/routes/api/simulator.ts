import { Router } from 'express';
import { z } from 'zod';
import { findSimulatorModel } from '../../db/queries/catalogue.ts';
import { notFound, Refusal } from '../../http/errors.ts';
import { fieldErrors } from '../../http/validation.ts';
import { requireWrite } from '../../middleware/auth.ts';
import { recordAudit } from '../../services/audit.ts';
import { storeBehaviour } from '../../services/simulator-settings.ts';
import type { RouteDeps } from '../deps.ts';

const simulatorBehaviourSchema = z.object({
  latency_ms: z
    .number({ message: 'must be a number of milliseconds' })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(120_000, 'must be at most 120000'),
  error_rate: z.number({ message: 'must be a number from 0 to 1' }).min(0, 'must be 0 or more').max(1, 'must be at most 1'),
});

/**
 * How the built-in simulator answers for a model, mounted at /api/platform/ai-management: lets an
 * admin rehearse a failing or slow provider.
 */
export function simulatorApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();
  router.put('/simulator/models/:name', requireWrite, async (req, res) => {
    const parsed = simulatorBehaviourSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw new Refusal(422, 'Invalid simulator behaviour', fieldErrors(parsed.error));
    const name = String(req.params.name);
    const model = await findSimulatorModel(db, name);
    if (!model) throw notFound('Simulator model');
    await db.transaction(async (trx) => {
      await storeBehaviour(trx, name, parsed.data, req.principal!.label);
      await recordAudit(trx, req.principal!, {
        action: 'simulator.configured',
        entityType: 'model',
        entityId: model.id,
        after: parsed.data,
      });
    });
    (await providers.simulator()).reload();
    res.json({ success: true, data: { model: name, ...parsed.data } });
  });
  return router;
}
