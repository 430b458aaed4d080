import express, { type Request, Router } from 'express';
import { HttpError } from '../../http/errors.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { checkCase } from '../../services/test-case-input.ts';
import {
  caseFieldsOf,
  casesJsonl,
  deleteTestCase,
  findTestCase,
  importTestCases,
  listTestCases,
  saveTestCase,
  type TestCaseRow,
} from '../../services/test-cases.ts';
import type { RouteDeps } from '../deps.ts';
import { featureOf } from './testing.ts';

// A feature's test cases (issue 16, SPEC §10.2), mounted at /api/platform/ai-management. A POST in
// JSON adds one case; in JSONL (application/jsonl or application/x-ndjson) it imports a file, all or
// nothing (?replace=true overwrites cases of the same name). GET with ?format=jsonl exports.

const JSONL = ['application/jsonl', 'application/x-ndjson'];
const jsonlBody = express.text({ type: JSONL, limit: '1mb' });

const caseJson = (r: TestCaseRow) => ({
  id: r.id,
  ...caseFieldsOf(r),
  created_by: r.created_by,
  created_at: r.created_at,
  updated_at: r.updated_at,
});
const objectOf = (req: Request) => (typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>) : req.body);

export function testCaseApiRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/features/:id/test-cases', requireRead, async (req, res) => {
    const feature = await featureOf(deps, req);
    const rows = await listTestCases(deps.db, feature.id);
    if (req.query.format === 'jsonl') return void res.type('application/jsonl').send(casesJsonl(rows));
    res.json({ success: true, data: rows.map(caseJson) });
  });
  router.post('/features/:id/test-cases', requireWrite, jsonlBody, async (req, res) => {
    const feature = await featureOf(deps, req);
    if (req.is(JSONL)) {
      if (typeof req.body !== 'string') throw new HttpError(400, 'Malformed request');
      const imported = await importTestCases(deps.db, req.principal!, feature, req.body, req.query.replace === 'true');
      return void res.status(201).json({ success: true, data: imported });
    }
    const body = objectOf(req);
    const row = await saveTestCase(deps.db, req.principal!, feature, (ctx) => checkCase(body, ctx));
    res.status(201).json({ success: true, data: caseJson(row) });
  });
  router.get('/features/:id/test-cases/:caseId', requireRead, async (req, res) => {
    const feature = await featureOf(deps, req);
    res.json({ success: true, data: caseJson(await findTestCase(deps.db, feature.id, String(req.params.caseId))) });
  });
  router.patch('/features/:id/test-cases/:caseId', requireWrite, async (req, res) => {
    const feature = await featureOf(deps, req);
    const body = objectOf(req);
    // The fields given change; the others stay as they are.
    const read = (ctx: Parameters<typeof checkCase>[1], current?: object) => checkCase({ ...current, ...body }, ctx);
    const row = await saveTestCase(deps.db, req.principal!, feature, read, String(req.params.caseId));
    res.json({ success: true, data: caseJson(row) });
  });
  router.delete('/features/:id/test-cases/:caseId', requireWrite, async (req, res) => {
    const feature = await featureOf(deps, req);
    const row = await deleteTestCase(deps.db, req.principal!, feature, String(req.params.caseId));
    res.json({ success: true, data: { id: row.id, deleted_at: row.deleted_at } });
  });
  return router;
}
