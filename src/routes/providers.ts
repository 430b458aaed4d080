import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { findProvider, type ProviderRow } from '../db/queries/catalogue.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { requireWrite } from '../middleware/auth.ts';
import { providerHealthCsv, providerPage } from '../pages/provider.ts';
import type { Providers } from '../providers/index.ts';
import { probeProvider, updateProvider } from '../services/providers.ts';
import { type FormState, render } from '../views.ts';

const PATH = '/platform/ai-management/providers';
const VIEW = { page: 'pages/provider' };

/** A provider's page: health and why, models, checks; edit, activate or deactivate, test the connection. */
export function providerRoutes(db: Db, providers: Providers): Router {
  const router = Router();

  async function providerOf(req: Request): Promise<ProviderRow> {
    const provider = await findProvider(db, String(req.params.name));
    if (!provider) throw notFound('Provider');
    return provider;
  }

  /** `warning`: a change that needs confirming (it touches what serves features), for the form that asked. */
  async function show(
    req: Request,
    res: Response,
    provider: ProviderRow,
    form?: FormState,
    status = 200,
    warning?: { message: string; form: 'status' | 'edit' },
  ) {
    const now = new Date();
    const data = await providerPage(db, provider, now);
    render(
      req,
      res,
      VIEW,
      {
        title: `${provider.display_name} · Providers`,
        provider,
        ...data,
        generatedAt: now,
        warning,
        form: form ?? { values: { display_name: provider.display_name, base_url: provider.base_url ?? '' }, errors: {} },
      },
      status,
    );
  }

  router.get(`${PATH}/:name`, async (req, res) => {
    const provider = await providerOf(req);
    const format = req.query.format;
    if (format !== undefined && format !== 'html' && format !== 'csv') throw new HttpError(400, 'format must be html or csv');
    if (format !== 'csv') return show(req, res, provider);
    res
      .type('text/csv')
      .attachment(`${provider.name}-health-24h.csv`)
      .send(await providerHealthCsv(db, provider, new Date()));
  });

  // Edits and status changes share the rules of the API; a refusal is shown in the edit form (422).
  async function change(
    req: Request,
    res: Response,
    form: 'status' | 'edit',
    input: Record<string, unknown>,
    done: (p: ProviderRow) => string,
  ) {
    const provider = await providerOf(req);
    try {
      const updated = await updateProvider(db, providers, req.principal!, provider.id, input);
      flash(req, 'success', done(updated));
      res.redirect(303, `${PATH}/${updated.name}`);
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 422 && err.status !== 409)) throw err;
      // The key is never written back into a page, not even the one that refused it.
      const { api_key: _never, ...values } = { ...(req.body ?? {}) };
      const errors = err.status === 422 ? (err.details as Record<string, string>) : {};
      const warning = err.status === 409 ? { message: err.message, form } : undefined;
      await show(
        req,
        res,
        provider,
        { values: { display_name: provider.display_name, base_url: provider.base_url ?? '', ...values }, errors },
        err.status,
        warning,
      );
    }
  }

  router.post(`${PATH}/:name`, requireWrite, (req, res) => {
    const { display_name, base_url, api_key, remove_key, confirm } = req.body ?? {};
    const input = { display_name, base_url, confirm, ...(remove_key === 'on' ? { api_key: null } : { api_key }) };
    return change(
      req,
      res,
      'edit',
      input,
      (p) => `Saved ${p.display_name}.${p.api_key_last4 ? ` Key on file ends in ${p.api_key_last4}.` : ''}`,
    );
  });

  router.post(`${PATH}/:name/status`, requireWrite, (req, res) =>
    change(req, res, 'status', { status: req.body?.status, confirm: req.body?.confirm }, (p) => `${p.display_name} is now ${p.status}.`),
  );

  router.post(`${PATH}/:name/test`, requireWrite, async (req, res) => {
    const provider = await providerOf(req);
    const result = await probeProvider(db, providers, provider.id, 'manual');
    flash(
      req,
      result.ok ? 'success' : 'error',
      result.ok
        ? `Connection to ${provider.display_name} works: GET /models answered in ${result.latencyMs} ms.`
        : `Connection to ${provider.display_name} failed: ${result.error}.`,
    );
    res.redirect(303, `${PATH}/${provider.name}`);
  });

  return router;
}
