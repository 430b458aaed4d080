import { type Response, Router } from 'express';
import { z } from 'zod';
import { changeRequests } from '../../db/queries/change-requests.ts';
import { ENVIRONMENTS } from '../../domain.ts';
import { notFound, Refusal } from '../../http/errors.ts';
import { choice, parseQuery } from '../../http/query.ts';
import { url } from '../../http/urls.ts';
import { flagField, unknownFields } from '../../http/validation.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import {
  approveChangeRequest,
  type ChangeRequest,
  environmentPolicies,
  rejectChangeRequest,
  setEnvironmentPolicy,
} from '../../services/change-requests.ts';
import type { RouteDeps } from '../deps.ts';

const listSchema = z.object({ state: choice(['pending', 'decided']).optional() });
const policySchema = z.object({ requires_approval: flagField });
const rejectSchema = z.object({ note: z.string().trim().max(500, 'must be at most 500 characters').optional().default('') });

/**
 * What a write answers when its environment is protected (SPEC §10.3): 409 with the change request
 * filed instead, and where it is decided. Nothing was applied.
 */
export function answerRequested(res: Response, request: ChangeRequest, what: string): void {
  res.status(409).json({
    success: false,
    error: `${request.environment} is protected: the ${what} waits for another admin's approval`,
    details: { change_request: request, links: { page: url.approvals(), api: url.changeRequestApi(request.id) } },
  });
}

const requestId = (raw: unknown) => {
  const id = z.uuid().safeParse(raw);
  if (!id.success) throw notFound('Change request');
  return id.data;
};

/** Protected environments and change requests (issue 14); mounted at /api/platform/ai-management. */
export function changeRequestApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();

  router.get('/change-requests', requireRead, async (req, res) => {
    const filter = parseQuery(listSchema, req.query);
    res.json({ success: true, data: await changeRequests(db, filter, 200) });
  });

  router.get('/change-requests/:id', requireRead, async (req, res) => {
    const [request] = await changeRequests(db, { id: requestId(req.params.id) }, 1);
    if (!request) throw notFound('Change request');
    res.json({ success: true, data: request });
  });

  router.post('/change-requests/:id/approve', requireWrite, async (req, res) => {
    const { request, outcome } = await approveChangeRequest(db, providers, req.principal!, requestId(req.params.id), new Date());
    res.status(outcome.ok ? 201 : outcome.status).json({
      success: outcome.ok,
      ...(!outcome.ok && !outcome.deployment && { error: outcome.error }),
      data: { change_request: request, ...(outcome.deployment ? { deployment: outcome.deployment } : { rollout: outcome.rollout }) },
    });
  });

  router.post('/change-requests/:id/reject', requireWrite, async (req, res) => {
    const body = rejectSchema.safeParse(req.body ?? {});
    if (!body.success) throw new Refusal(422, 'Invalid rejection', { note: body.error.issues[0].message });
    const request = await rejectChangeRequest(db, req.principal!, requestId(req.params.id), body.data.note, new Date());
    res.json({ success: true, data: { change_request: request } });
  });

  router.get('/environment-policies', requireRead, async (_req, res) => {
    const policies = await environmentPolicies(db);
    res.json({
      success: true,
      data: ENVIRONMENTS.map((environment) => ({ environment, requires_approval: policies[environment]?.requires_approval ?? false })),
    });
  });

  router.put('/environment-policies/:environment', requireWrite, async (req, res) => {
    const environment = z.enum(ENVIRONMENTS).safeParse(req.params.environment);
    if (!environment.success) throw notFound('Environment');
    const unknown = unknownFields(req.body ?? {}, ['requires_approval']);
    const body = policySchema.safeParse(req.body ?? {});
    if (Object.keys(unknown).length || !body.success)
      throw new Refusal(422, 'Invalid policy', {
        ...unknown,
        ...(body.success ? {} : { requires_approval: body.error.issues[0].message }),
      });
    const changed = await setEnvironmentPolicy(db, req.principal!, environment.data, body.data.requires_approval);
    res.json({ success: true, data: { environment: environment.data, requires_approval: body.data.requires_approval, changed } });
  });

  return router;
}
