import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { HttpError } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { requireWrite } from '../middleware/auth.ts';
import { type CatalogueQuery, catalogueCsv, deploymentsTab, modelsTab, parseCatalogueQuery, providersTab } from '../pages/catalogue.ts';
import type { Providers } from '../providers/index.ts';
import { createModel } from '../services/models.ts';
import { createProvider } from '../services/providers.ts';
import { type FormState, render, targetId } from '../views.ts';

const PATH = '/platform/ai-management/models';
const VIEW = {
  page: 'pages/catalogue',
  partial: 'partials/catalogue/catalogue-tab',
  targets: {
    'catalogue-tab': 'partials/catalogue/catalogue-tab',
    'model-results': 'partials/catalogue/model-results',
    'deployment-results': 'partials/catalogue/deployment-results',
  },
};

/** Links that keep the tab's own state (search, filters, sort, page) and change one part of it. */
function linker(q: CatalogueQuery) {
  return (change: Partial<Record<keyof CatalogueQuery, string | number | undefined>> = {}) => {
    const next: Record<string, unknown> = { ...q, ...change };
    if (next.page === 1) delete next.page;
    if (next.format === 'html') delete next.format;
    if (next.tab === 'providers') next.tab = undefined;
    const params = new URLSearchParams(
      Object.entries(next)
        .filter((e): e is [string, string | number] => e[1] !== undefined && e[1] !== '')
        .map(([k, v]) => [k, String(v)]),
    );
    const query = params.toString();
    return query ? `${PATH}?${query}` : PATH;
  };
}

const emptyForm = (): FormState => ({ values: {}, errors: {} });

/** Models & providers (SPEC §5): the Providers, Models and Deployments tabs, and the forms that add to them. */
export function catalogueRoutes(db: Db, providers: Providers): Router {
  const router = Router();

  async function show(req: Request, res: Response, query: unknown, forms: { provider?: FormState; model?: FormState } = {}, status = 200) {
    const q = parseCatalogueQuery(query);
    const now = new Date();
    const data =
      q.tab === 'providers' ? await providersTab(db, now) : q.tab === 'models' ? await modelsTab(db, q, now) : await deploymentsTab(db, q);
    if (q.format === 'csv') return void res.type('text/csv').attachment(`${q.tab}.csv`).send(catalogueCsv(q.tab, data));
    render(
      req,
      res,
      VIEW,
      {
        title: 'Models & Providers',
        q,
        link: linker(q),
        generatedAt: now,
        ...data,
        part: req.htmx.request ? targetId(req) : undefined,
        providerForm: forms.provider ?? emptyForm(),
        modelForm: forms.model ?? emptyForm(),
      },
      status,
    );
  }

  router.get(PATH, (req, res) => show(req, res, req.query));

  // Adding a provider or a model: 303 to its page with a flash; a refusal → 422 (409 for a taken name) inline.
  async function add(req: Request, res: Response, tab: 'providers' | 'models', create: () => Promise<string>) {
    try {
      res.redirect(303, await create());
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 422 && err.status !== 409)) throw err;
      const form = { values: req.body ?? {}, errors: err.details as Record<string, string> };
      await show(req, res, { tab }, tab === 'providers' ? { provider: form } : { model: form }, err.status);
    }
  }

  router.post('/platform/ai-management/providers', requireWrite, (req, res) =>
    add(req, res, 'providers', async () => {
      const provider = await createProvider(db, providers, req.principal!, req.body ?? {});
      flash(
        req,
        'success',
        `Provider “${provider.display_name}” added${provider.status === 'active' ? ' and active' : ' (inactive until you activate it)'}.`,
      );
      return `/platform/ai-management/providers/${provider.name}`;
    }),
  );

  router.post(PATH, requireWrite, (req, res) =>
    add(req, res, 'models', async () => {
      const model = await createModel(db, req.principal!, req.body ?? {});
      flash(req, 'success', `Model “${model.display_name}” added to ${model.provider_display_name}.`);
      return `${PATH}/${model.id}`;
    }),
  );

  return router;
}
