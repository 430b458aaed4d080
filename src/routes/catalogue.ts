import { type Request, type Response, Router } from 'express';
import { refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import {
  type CatalogueQuery,
  catalogueCsv,
  catalogueDeploymentsTab,
  catalogueModelsTab,
  catalogueProvidersTab,
  catalogueQuerySchema,
} from '../pages/catalogue.ts';
import { createModel } from '../services/models.ts';
import { type FormState, render, targetId } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const VIEW = {
  page: 'pages/catalogue',
  partial: 'partials/catalogue/catalogue-tab',
  targets: {
    'catalogue-tab': 'partials/catalogue/catalogue-tab',
    'model-results': 'partials/catalogue/model-results',
    'deployment-results': 'partials/catalogue/deployment-results',
  },
};

/** Models & providers (SPEC §5), mounted at /platform/ai-management/models: its three tabs, and adding a model. */
export function catalogueRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/', (req, res) => showCatalogue(deps, req, res, req.query));
  router.post('/', requireWrite, (req, res) => addModel(deps, req, res));
  return router;
}

/** Links that keep the tab's own state (search, filters, sort, page) and change one part of it. */
const linker = (q: CatalogueQuery) =>
  linkKeeping<Partial<CatalogueQuery>>(url.catalogue(), q, { tab: 'providers', page: 1, format: 'html' });

const emptyForm = (): FormState => ({ values: {}, errors: {} });

/** A tab of the page; `forms` re-shows a refused add-provider or add-model form. */
export async function showCatalogue(
  deps: RouteDeps,
  req: Request,
  res: Response,
  query: unknown,
  forms: { provider?: FormState; model?: FormState } = {},
  status = 200,
) {
  const { db } = deps;
  const q = parseQuery(catalogueQuerySchema, query);
  const now = new Date();
  const data =
    q.tab === 'providers'
      ? await catalogueProvidersTab(db, q, now)
      : q.tab === 'models'
        ? await catalogueModelsTab(db, q, now)
        : await catalogueDeploymentsTab(db, q);
  if (q.format === 'csv') return void res.type('text/csv').attachment(`${q.tab}.csv`).send(catalogueCsv(q.tab, data));
  const part = req.htmx.request ? targetId(req) : undefined;
  const providerForm = forms.provider ?? emptyForm();
  const modelForm = forms.model ?? emptyForm();
  render(
    req,
    res,
    VIEW,
    { title: 'Models & Providers', q, link: linker(q), generatedAt: now, ...data, part, providerForm, modelForm },
    status,
  );
}

// Adding a model: 303 to its page with a flash; a refusal → 422 (409 for a taken name) inline.
async function addModel(deps: RouteDeps, req: Request, res: Response) {
  try {
    const model = await createModel(deps.db, req.principal!, req.body ?? {});
    flash(req, 'success', `Model “${model.display_name}” added to ${model.provider_display_name}.`);
    res.redirect(303, url.model(model.id));
  } catch (err) {
    const refusal = refusalOf(err);
    await showCatalogue(deps, req, res, { tab: 'models' }, { model: { values: req.body ?? {}, errors: refusal.fields } }, refusal.status);
  }
}
