import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { ENVIRONMENTS } from '../domain.ts';
import { notFound, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { url } from '../http/urls.ts';
import { flagField } from '../http/validation.ts';
import { requireWrite } from '../middleware/auth.ts';
import { approvalsPage } from '../pages/approvals.ts';
import { approveChangeRequest, approvedMessage, rejectChangeRequest, setEnvironmentPolicy } from '../services/change-requests.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/approvals' };
const noteField = z.string().trim().max(500, 'must be at most 500 characters').optional().default('');

/** Approvals, mounted at /platform/ai-management/approvals: protected environments and their change requests. */
export function approvalRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/', (req, res) => show(deps, req, res));
  router.post('/policies/:environment', requireWrite, async (req, res) => {
    const environment = z.enum(ENVIRONMENTS).safeParse(req.params.environment);
    if (!environment.success) throw notFound('Environment');
    const requires = flagField.safeParse(req.body?.requires_approval ?? 'no');
    if (!requires.success) return show(deps, req, res, { error: `requires_approval ${requires.error.issues[0].message}` }, 422);
    const changed = await setEnvironmentPolicy(deps.db, req.principal!, environment.data, requires.data);
    const now = requires.data ? 'need a second admin’s approval' : 'apply at once';
    flash(
      req,
      'success',
      changed ? `Changes to ${environment.data} now ${now}.` : `Nothing changed: changes to ${environment.data} already ${now}.`,
    );
    res.redirect(303, url.approvals());
  });
  router.post('/:id/approve', requireWrite, async (req, res) => {
    const id = z.uuid().safeParse(req.params.id);
    if (!id.success) throw notFound('Change request');
    try {
      const { outcome } = await approveChangeRequest(deps.db, deps.providers, req.principal!, id.data, new Date());
      flash(req, outcome.ok ? 'success' : 'error', approvedMessage(outcome));
      res.redirect(303, url.approvals());
    } catch (err) {
      await show(deps, req, res, { error: refusalOf(err).message }, refusalOf(err).status);
    }
  });
  router.post('/:id/reject', requireWrite, async (req, res) => {
    const id = z.uuid().safeParse(req.params.id);
    if (!id.success) throw notFound('Change request');
    const note = noteField.safeParse(req.body?.note);
    if (!note.success) return show(deps, req, res, { error: `The note ${note.error.issues[0].message}` }, 422);
    try {
      await rejectChangeRequest(deps.db, req.principal!, id.data, note.data, new Date());
      flash(req, 'success', 'Rejected: nothing was changed.');
      res.redirect(303, url.approvals());
    } catch (err) {
      await show(deps, req, res, { error: refusalOf(err).message }, refusalOf(err).status);
    }
  });
  return router;
}

async function show(deps: RouteDeps, req: Request, res: Response, extra: { error?: string } = {}, status = 200) {
  const page = await approvalsPage(deps.db, req.principal!, new Date());
  render(req, res, VIEW, { title: 'Approvals', ...page, ...extra }, status);
}
