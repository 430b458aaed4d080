import { type Request, type Response, Router } from 'express';
import { findModel, type ModelRow } from '../db/queries/catalogue.ts';
import { isUuid } from '../domain.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url, withQuery } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { compareView, type ModelQuery, modelPage, modelQuerySchema } from '../pages/model.ts';
import { compareCsv, modelCsv } from '../pages/model-charts.ts';
import { fragmentOf, render } from '../views.ts';
import { type ArchiveTarget, archiving } from './archive.ts';
import { loader, type RouteDeps } from './deps.ts';
import { modelFormRoutes } from './model-forms.ts';

const MODEL_VIEW = { page: 'pages/model', partial: 'partials/models/model-performance' };
const COMPARE_VIEW = { page: 'pages/compare', partial: 'partials/models/compare-body' };

/**
 * Under /platform/ai-management/models: the compare page of 2–4 models, and a model's page (figures,
 * charts, where it serves, deployments) with its Configure and Deploy forms.
 */
export function modelPageRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.param(
    'id',
    loader('model', 'Model', (id) => findModel(deps.db, id), isUuid),
  );
  // Before /:id, which would otherwise take "compare" for an id.
  router.get('/compare', (req, res) => showCompare(deps, req, res));
  router.get('/:id', (req, res) => showModel(deps, req, res));
  const refused = (req: Request, res: Response, reason: string) => showModel(deps, req, res, reason);
  router.post('/:id/archive', requireWrite, archiving(deps.db, true, modelTarget, refused));
  router.post('/:id/unarchive', requireWrite, archiving(deps.db, false, modelTarget, refused));
  router.use('/:id', modelFormRoutes(deps));
  return router;
}

async function showCompare(deps: RouteDeps, req: Request, res: Response) {
  const q = parseQuery(modelQuerySchema, { range: req.query.range, format: req.query.format });
  const now = new Date();
  const view = await compareView(deps.db, req.query.ids, q.range, now, deps.timeZone);
  if (q.format === 'csv' && view.models)
    return void res.type('text/csv').attachment(`compare-${q.range}.csv`).send(compareCsv(view.models));
  // uuids need no escaping: the commas stay readable.
  const link = (change: Partial<ModelQuery> = {}) =>
    withQuery(`${url.compare()}?ids=${view.chosen.join(',')}`, { range: q.range, ...change });
  render(req, res, COMPARE_VIEW, { title: 'Compare models', q, ...view, generatedAt: now, link, charts: true }, view.status);
}

const modelTarget = (res: Response): ArchiveTarget => {
  const m = res.locals.model as ModelRow;
  return { kind: 'model', id: m.id, display_name: m.display_name, page: url.model(m.id) };
};

/** `archiveError`: why archiving was refused, shown beside its form (422). */
async function showModel(deps: RouteDeps, req: Request, res: Response, archiveError?: string) {
  const model = res.locals.model as ModelRow;
  const q = parseQuery(modelQuerySchema, req.query);
  const now = new Date();
  const performanceOnly = q.format === 'csv' || fragmentOf(req, MODEL_VIEW) !== undefined;
  const page = await modelPage(deps.db, model, q.range, now, deps.timeZone, performanceOnly);
  if (q.format === 'csv') {
    return void res
      .type('text/csv')
      .attachment(`${model.name.replace(/[^\w.-]+/g, '-')}-${q.range}.csv`)
      .send(modelCsv(page.metrics));
  }
  const link = linkKeeping<Partial<ModelQuery>>(url.model(model.id), { range: q.range });
  const data = { title: `${model.display_name} · Models`, q, model, ...page, generatedAt: now, link, charts: true, archiveError };
  render(req, res, MODEL_VIEW, data, archiveError ? 422 : 200);
}
