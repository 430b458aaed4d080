import type { Request, Response } from 'express';
import { z } from 'zod';
import type { FeatureRow } from '../db/queries/features.ts';
import { findTestRun } from '../db/queries/test-runs.ts';
import { isUuid } from '../domain.ts';
import { notFound, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { compareTestRuns, type RunEstimate, runEstimate, testRunCsv, testRunPage } from '../pages/test-runs.ts';
import { cancelRun, runBodyOfForm, startRun } from '../services/test-runs.ts';
import { type FormState, render } from '../views.ts';
import type { RouteDeps, ShowFeatures } from './deps.ts';

// Suite runs in the console (issue 16): the Testing tab's start form (an estimate first, if asked),
// a run's page (polled while it runs; CSV), its cancel form, and two runs side by side. Mounted by
// the features router under /features/:slug/test-runs.

/** The start form as the Testing tab shows it again: values and errors, and the estimate when one was asked for. */
export interface TestRunFormShown {
  form: FormState;
  estimate?: RunEstimate;
}

type Show = ShowFeatures<{ testRun: TestRunFormShown }>;

// What a refusal names as `environment` or `model_id`, the form names `target`.
const FORM_FIELD: Record<string, string> = { environment: 'target', model_id: 'target' };
const featureIn = (res: Response) => res.locals.feature as FeatureRow;

/** POST …/:slug/test-runs: the run queued (303 to its page) or, with the Estimate button, the tab again with the estimate; a refused form again (422). */
export async function startTestRun(deps: RouteDeps, req: Request, res: Response, show: Show) {
  const feature = featureIn(res);
  const values = (req.body ?? {}) as Record<string, string>;
  const tab = { feature: feature.name, tab: 'testing' };
  try {
    if (values.estimate !== undefined) {
      const estimate = await runEstimate(deps.db, feature, values);
      const form = { values: { ...values, cost_cap_usd: values.cost_cap_usd || String(estimate.cap) }, errors: {} };
      return await show(deps, req, res, tab, { testRun: { form, estimate } });
    }
    const { run } = await startRun(deps.db, req.principal!, feature, runBodyOfForm(values));
    flash(
      req,
      'success',
      `Run queued: ${run.cases_total} cases, estimated at $${run.estimate_usd} (an estimate), stopped if it would pass its cap of $${run.cost_cap_usd}.`,
    );
    res.redirect(303, url.testRun(feature.name, run.id));
  } catch (err) {
    const refusal = refusalOf(err);
    const errors = Object.fromEntries(Object.entries(refusal.fields).map(([k, v]) => [FORM_FIELD[k] ?? k, v]));
    await show(deps, req, res, tab, { testRun: { form: { values, errors } } }, 422);
  }
}

async function runIn(deps: RouteDeps, req: Request, res: Response) {
  const id = String(req.params.runId);
  const run = isUuid(id) ? await findTestRun(deps.db, featureIn(res).id, id) : undefined;
  if (!run) throw notFound('Test run');
  return run;
}

const RUN_VIEW = { page: 'pages/test-run', partial: 'partials/testing/test-run-body' };

/** GET …/test-runs/:runId: the run's page (htmx polls its body while it runs); `format=csv` for its results. */
export async function showTestRun(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const run = await runIn(deps, req, res);
  if (req.query.format === 'csv')
    return void res
      .type('text/csv')
      .attachment(`${feature.name}-run-${run.id.slice(0, 8)}.csv`)
      .send(await testRunCsv(deps.db, run));
  render(req, res, RUN_VIEW, { title: `Test run · ${feature.display_name}`, feature, ...(await testRunPage(deps.db, run)) });
}

/** POST …/test-runs/:runId/cancel: the run stops before its next case (303 to its page). */
export async function cancelTestRun(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const run = await runIn(deps, req, res);
  const cancelled = await cancelRun(deps.db, req.principal!, run);
  flash(
    req,
    cancelled ? 'success' : 'error',
    cancelled ? 'Run cancelled.' : `Nothing cancelled: the run had already ${run.status === 'done' ? 'finished' : run.status}.`,
  );
  res.redirect(303, url.testRun(feature.name, run.id));
}

const compareSchema = z.object({
  a: z.uuid({ message: 'must be the id of a run' }).optional(),
  b: z.uuid({ message: 'must be the id of a run' }).optional(),
});

/** GET …/test-runs/compare?a=&b=: two runs side by side (chosen on the Testing tab; without both, a pointer there). */
export async function compareRuns(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const q = parseQuery(compareSchema, req.query);
  const comparison = q.a && q.b ? await compareTestRuns(deps.db, feature, { a: q.a, b: q.b }) : undefined;
  render(req, res, { page: 'pages/test-run-compare' }, { title: `Compare runs · ${feature.display_name}`, feature, comparison });
}
