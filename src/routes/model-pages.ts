import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { findModel } from '../db/queries/catalogue.ts';
import { notFound } from '../http/errors.ts';
import type { RangeName } from '../metrics/ranges.ts';
import { compareView, MODELS_PATH, type ModelQuery, modelPage, parseModelQuery } from '../pages/model.ts';
import { compareCsv, modelCsv } from '../pages/model-charts.ts';
import { fragmentOf, render } from '../views.ts';

const MODEL_VIEW = { page: 'pages/model', partial: 'partials/models/model-performance' };
const COMPARE_VIEW = { page: 'pages/compare', partial: 'partials/models/compare-results' };

const params = (range: RangeName, change: Partial<ModelQuery>) => new URLSearchParams({ range, ...change }).toString();
/** Links to a model page that keep its range. */
const modelLink =
  (id: string, range: RangeName) =>
  (change: Partial<ModelQuery> = {}) =>
    `${MODELS_PATH}/${id}?${params(range, change)}`;
/** Links to the compare page for these ids (uuids: no escaping, commas kept readable), keeping the range. */
const compareLink =
  (ids: string[], range: RangeName) =>
  (change: Partial<ModelQuery> = {}) =>
    `${MODELS_PATH}/compare?ids=${ids.join(',')}&${params(range, change)}`;

/** The model page (figures, charts, where it serves, deployments) and the compare page of 2–4 models. */
export function modelPageRoutes(db: Db, timeZone: string): Router {
  const router = Router();

  // Before /models/:id, which would otherwise take "compare" for an id.
  router.get(`${MODELS_PATH}/compare`, async (req, res) => {
    const q = parseModelQuery(req.query);
    const now = new Date();
    const view = await compareView(db, req.query.ids, q.range, now, timeZone);
    if (q.format === 'csv' && view.models) {
      res.type('text/csv').attachment(`compare-${q.range}.csv`).send(compareCsv(view.models));
      return;
    }
    render(
      req,
      res,
      COMPARE_VIEW,
      { title: 'Compare models', q, ...view, generatedAt: now, link: compareLink(view.chosen, q.range), charts: true },
      view.status,
    );
  });

  router.get(`${MODELS_PATH}/:id`, async (req, res, next) => {
    // Not a uuid: another route (or the 404 page) answers.
    if (!z.uuid().safeParse(req.params.id).success) return next();
    const model = await findModel(db, req.params.id);
    if (!model) throw notFound('Model');
    const q = parseModelQuery(req.query);
    const now = new Date();
    const page = await modelPage(db, model, q.range, now, timeZone, q.format === 'csv' || fragmentOf(req, MODEL_VIEW) !== undefined);
    if (q.format === 'csv') {
      res
        .type('text/csv')
        .attachment(`${model.name.replace(/[^\w.-]+/g, '-')}-${q.range}.csv`)
        .send(modelCsv(page.metrics));
      return;
    }
    render(req, res, MODEL_VIEW, {
      title: `${model.display_name} · Models`,
      q,
      model,
      ...page,
      generatedAt: now,
      link: modelLink(model.id, q.range),
      charts: true,
    });
  });

  return router;
}
