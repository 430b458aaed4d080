import { Router } from 'express';
import { z } from 'zod';
import { notFound } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { url } from '../http/urls.ts';
import { fieldErrors } from '../http/validation.ts';
import { requireWrite } from '../middleware/auth.ts';
import { apiKeysPage } from '../pages/api-keys.ts';
import { isConfirmed, revokeConfirmation } from '../pages/confirmations.ts';
import { createApiKey, newApiKeySchema, revokeApiKey } from '../services/api-keys.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/api-keys' };
const idParam = z.string().uuid();

/** API keys, mounted at /platform/ai-management/api-keys: the list, create (shown once), revoke. */
export function apiKeyRoutes({ db }: RouteDeps): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    render(req, res, VIEW, { title: 'API keys', ...(await apiKeysPage(db)), form: {}, errors: {} });
  });

  router.post('/', requireWrite, async (req, res) => {
    const parsed = newApiKeySchema.safeParse(req.body);
    if (!parsed.success) {
      const data = { title: 'API keys', ...(await apiKeysPage(db)), form: req.body ?? {}, errors: fieldErrors(parsed.error) };
      return render(req, res, VIEW, data, 422);
    }
    // The token is shown in this response only: it is never stored, so there is no redirect to show it after.
    const { key, token } = await createApiKey(db, req.principal!, parsed.data);
    res.set('Cache-Control', 'no-store');
    render(req, res, VIEW, { title: 'API keys', ...(await apiKeysPage(db)), form: {}, errors: {}, created: { key, token } }, 201);
  });

  router.post('/:id/revoke', requireWrite, async (req, res) => {
    const id = idParam.safeParse(req.params.id);
    if (!id.success) throw notFound('API key');
    // An active key asks first (issue 13 item 9); revoking a revoked one changes nothing, so it does not.
    const page = isConfirmed(req.body) ? undefined : await apiKeysPage(db);
    const key = page?.keys.find((k) => k.id === id.data && !k.revoked_at);
    if (page && key) {
      const confirmation = revokeConfirmation(key, { action: url.apiKeyRevoke(key.id), cancel: url.apiKeys() });
      return render(req, res, VIEW, { title: 'API keys', ...page, form: {}, errors: {}, confirmation });
    }
    await revokeApiKey(db, req.principal!, id.data);
    flash(req, 'success', 'API key revoked. Requests with it are refused from now on.');
    res.redirect(303, url.apiKeys());
  });

  return router;
}
