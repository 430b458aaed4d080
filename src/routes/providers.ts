import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { findProvider, type ProviderRow } from '../db/queries/catalogue.ts';
import { refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { formatParam, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { providerHealthCsv, providerPage } from '../pages/provider.ts';
import { changeProviderStatus, createProvider, probeProvider, updateProvider } from '../services/providers.ts';
import { type FormState, render } from '../views.ts';
import { type ArchiveTarget, archiving } from './archive.ts';
import { showCatalogue } from './catalogue.ts';
import { loader, type RouteDeps } from './deps.ts';

const VIEW = { page: 'pages/provider' };

/**
 * Providers, mounted at /platform/ai-management/providers: adding one (from the catalogue's tab),
 * and a provider's page — health and why, models, checks; edit, activate or deactivate, test the connection.
 */
export function providerRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.param(
    'name',
    loader('provider', 'Provider', (name) => findProvider(deps.db, name)),
  );
  router.post('/', requireWrite, (req, res) => addProvider(deps, req, res));
  router.get('/:name', (req, res) => showProvider(deps, req, res));
  router.post('/:name', requireWrite, (req, res) => editProvider(deps, req, res));
  router.post('/:name/status', requireWrite, (req, res) => changeStatus(deps, req, res));
  router.post('/:name/test', requireWrite, (req, res) => testConnection(deps, req, res));
  router.post('/:name/archive', requireWrite, archiving(deps.db, true, providerTarget, archiveRefused(deps)));
  router.post('/:name/unarchive', requireWrite, archiving(deps.db, false, providerTarget, archiveRefused(deps)));
  return router;
}

const providerIn = (res: Response) => res.locals.provider as ProviderRow;

const providerTarget = (res: Response): ArchiveTarget => {
  const p = providerIn(res);
  return { kind: 'provider', id: p.id, display_name: p.display_name, page: url.provider(p.name) };
};
const archiveRefused = (deps: RouteDeps) => (req: Request, res: Response, reason: string) =>
  show(deps, req, res, providerIn(res), undefined, 422, { message: reason, form: 'archive' });

async function addProvider(deps: RouteDeps, req: Request, res: Response) {
  try {
    const provider = await createProvider(deps.db, deps.providers, req.principal!, req.body ?? {});
    const state = provider.status === 'active' ? ' and active' : ' (inactive until you activate it)';
    flash(req, 'success', `Provider “${provider.display_name}” added${state}.`);
    res.redirect(303, url.provider(provider.name));
  } catch (err) {
    const refusal = refusalOf(err);
    const form = { values: req.body ?? {}, errors: refusal.fields };
    await showCatalogue(deps, req, res, { tab: 'providers' }, { provider: form }, refusal.status);
  }
}

async function showProvider(deps: RouteDeps, req: Request, res: Response) {
  const provider = providerIn(res);
  const { format } = parseQuery(z.object({ format: formatParam }), { format: req.query.format });
  if (format === 'csv') {
    return void res
      .type('text/csv')
      .attachment(`${provider.name}-health-24h.csv`)
      .send(await providerHealthCsv(deps.db, provider, new Date()));
  }
  await show(deps, req, res, provider);
}

/** `warning`: a change that needs confirming (it touches what serves features), for the form that asked. */
async function show(
  deps: RouteDeps,
  req: Request,
  res: Response,
  provider: ProviderRow,
  form?: FormState,
  status = 200,
  warning?: { message: string; form: 'status' | 'edit' | 'activate' | 'archive' },
) {
  const now = new Date();
  const data = await providerPage(deps.db, provider, now);
  const shown = form ?? { values: { display_name: provider.display_name, base_url: provider.base_url ?? '' }, errors: {} };
  render(
    req,
    res,
    VIEW,
    { title: `${provider.display_name} · Providers`, provider, ...data, generatedAt: now, warning, form: shown },
    status,
  );
}

/** Activation tests the connection first: a failed test is shown with "Activate anyway" (422, nothing written). */
function changeStatus(deps: RouteDeps, req: Request, res: Response) {
  const { status, confirm, despite_failed_test } = req.body ?? {};
  return change(deps, req, res, 'status', async (id) => {
    const { provider, test } = await changeProviderStatus(deps.db, deps.providers, req.principal!, id, {
      status,
      confirm,
      despite_failed_test,
    });
    const tested = !test
      ? ''
      : test.ok
        ? ` Connection test passed in ${test.latencyMs} ms.`
        : ` Its connection test failed: ${test.error}.`;
    return {
      provider,
      message: `${provider.display_name} is now ${provider.status}.${tested}`,
      failedTest: test !== undefined && !test.ok,
    };
  });
}

function editProvider(deps: RouteDeps, req: Request, res: Response) {
  const { display_name, base_url, api_key, remove_key, confirm } = req.body ?? {};
  const input = { display_name, base_url, confirm, ...(remove_key === 'on' ? { api_key: null } : { api_key }) };
  const keyNote = (p: ProviderRow) => (p.api_key_last4 ? ` Key on file ends in ${p.api_key_last4}.` : '');
  return change(deps, req, res, 'edit', async (id) => {
    const provider = await updateProvider(deps.db, deps.providers, req.principal!, id, input);
    return { provider, message: `Saved ${provider.display_name}.${keyNote(provider)}` };
  });
}

// Edits and status changes share the rules of the API; a refusal is shown in the edit form (422).
async function change(
  deps: RouteDeps,
  req: Request,
  res: Response,
  form: 'status' | 'edit',
  write: (providerId: string) => Promise<{ provider: ProviderRow; message: string; failedTest?: boolean }>,
) {
  const provider = providerIn(res);
  try {
    const done = await write(provider.id);
    flash(req, done.failedTest ? 'error' : 'success', done.message);
    res.redirect(303, url.provider(done.provider.name));
  } catch (err) {
    const refusal = refusalOf(err);
    // The key is never written back into a page, not even the one that refused it.
    const { api_key: _never, ...values } = { ...(req.body ?? {}) };
    const shown = { values: { display_name: provider.display_name, base_url: provider.base_url ?? '', ...values }, errors: refusal.fields };
    const testFailed = (refusal.details as { test_failed?: boolean } | undefined)?.test_failed === true;
    const warning = testFailed
      ? { message: refusal.message, form: 'activate' as const }
      : refusal.status === 409
        ? { message: refusal.message, form }
        : undefined;
    await show(deps, req, res, provider, shown, refusal.status, warning);
  }
}

async function testConnection(deps: RouteDeps, req: Request, res: Response) {
  const provider = providerIn(res);
  const result = await probeProvider(deps.db, deps.providers, provider.id, 'manual');
  const works = `Connection to ${provider.display_name} works: GET /models answered in ${result.latencyMs} ms.`;
  flash(req, result.ok ? 'success' : 'error', result.ok ? works : `Connection to ${provider.display_name} failed: ${result.error}.`);
  res.redirect(303, url.provider(provider.name));
}
