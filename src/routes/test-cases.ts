import type { Request, Response, Router } from 'express';
import type { FeatureRow } from '../db/queries/features.ts';
import { refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { isConfirmed } from '../pages/confirmations.ts';
import { deleteCaseConfirmation, type TestCasesShown } from '../pages/test-cases.ts';
import { type CaseForm, caseOfForm } from '../services/test-case-input.ts';
import { casesJsonl, deleteTestCase, findTestCase, importTestCases, listTestCases, saveTestCase } from '../services/test-cases.ts';
import type { RouteDeps, ShowFeatures } from './deps.ts';

// The Testing tab's test-case forms (issue 16), under /platform/ai-management/features/:slug/test-cases:
// add, edit, delete (asked first), import JSONL (pasted) and export it. Success → 303 to the tab with
// a flash (htmx: the tab at once); a refusal → 422 with the form again and its errors.

type Show = ShowFeatures<{ testCases: TestCasesShown }>;
type Changed = (deps: RouteDeps, req: Request, res: Response, tab: { feature: string; tab: 'testing' }) => Promise<void>;

const featureIn = (res: Response) => res.locals.feature as FeatureRow;
const tabOf = (res: Response) => ({ feature: featureIn(res).name, tab: 'testing' as const });
const bodyOf = (req: Request) => (req.body ?? {}) as CaseForm & Record<string, string>;

/** The test-case forms on the features router (its `slug` loader gives the feature). */
export function testCaseRoutes(router: Router, deps: RouteDeps, show: Show, changed: Changed): void {
  router.get('/:slug/test-cases', async (req, res) => {
    const feature = featureIn(res);
    if (req.query.format !== 'jsonl') return void res.redirect(303, url.features(tabOf(res)));
    res
      .type('application/jsonl')
      .attachment(`${feature.name}-test-cases.jsonl`)
      .send(casesJsonl(await listTestCases(deps.db, feature.id)));
  });
  router.post('/:slug/test-cases', requireWrite, (req, res) => save(deps, req, res, show, changed));
  router.post('/:slug/test-cases/import', requireWrite, (req, res) => importPasted(deps, req, res, show, changed));
  router.post('/:slug/test-cases/:caseId', requireWrite, (req, res) => save(deps, req, res, show, changed, String(req.params.caseId)));
  router.post('/:slug/test-cases/:caseId/delete', requireWrite, async (req, res) => {
    const feature = featureIn(res);
    const current = await findTestCase(deps.db, feature.id, String(req.params.caseId));
    if (!isConfirmed(req.body))
      return show(deps, req, res, tabOf(res), { testCases: { confirmation: deleteCaseConfirmation(feature.name, current) } });
    await deleteTestCase(deps.db, req.principal!, feature, current.id);
    flash(req, 'success', `Test case “${current.name}” deleted.`);
    await changed(deps, req, res, tabOf(res));
  });
}

async function save(deps: RouteDeps, req: Request, res: Response, show: Show, changed: Changed, caseId?: string) {
  const body = bodyOf(req);
  try {
    const row = await saveTestCase(deps.db, req.principal!, featureIn(res), (ctx) => caseOfForm(body, ctx), caseId);
    flash(req, 'success', caseId ? `Test case “${row.name}” saved.` : `Test case “${row.name}” added.`);
    await changed(deps, req, res, tabOf(res));
  } catch (err) {
    const form = { values: body, errors: refusalOf(err).fields };
    await show(deps, req, res, tabOf(res), { testCases: caseId ? { edit: { ...form, id: caseId } } : { add: form } }, 422);
  }
}

async function importPasted(deps: RouteDeps, req: Request, res: Response, show: Show, changed: Changed) {
  const body = bodyOf(req);
  const replace = body.replace === 'on';
  try {
    const done = await importTestCases(deps.db, req.principal!, featureIn(res), String(body.jsonl ?? ''), replace);
    flash(req, 'success', `Imported: ${done.created} case${done.created === 1 ? '' : 's'} added, ${done.replaced} replaced.`);
    await changed(deps, req, res, tabOf(res));
  } catch (err) {
    const refusal = refusalOf(err);
    const lines = (refusal.details as { lines?: { line: number; message: string }[] }).lines;
    await show(deps, req, res, tabOf(res), { testCases: { import: { values: body, errors: { jsonl: refusal.message }, lines } } }, 422);
  }
}
