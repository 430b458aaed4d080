import { Router } from 'express';
import { z } from 'zod';
import { auditEntityTypes, auditEntries } from '../db/queries/audit.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { CONTROL_MESSAGE, withoutControlCharacters } from '../http/validation.ts';
import { auditEntryViews } from '../pages/audit.ts';
import { render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

const PAGE = 100;
const VIEW = { page: 'pages/audit', partial: 'partials/audit/audit-results' };

// Filters live in the query string; empty fields mean "any".
const filterSchema = z.object({
  entity: z
    .string()
    .regex(/^[a-z_]{1,40}$/, 'must be an entity type such as feature or user')
    .optional(),
  action: z
    .string()
    .regex(/^[a-z_.]{1,60}$/, 'must be lowercase letters, dots and underscores')
    .optional(),
  actor: z.string().max(200, 'must be at most 200 characters').refine(withoutControlCharacters, CONTROL_MESSAGE).optional(),
  before: z.coerce.number().int('must be an entry id').positive('must be an entry id').optional(),
});

/** The audit log, mounted at /platform/ai-management/audit: filters in the URL, 100 entries a page. */
export function auditRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const filter = parseQuery(filterSchema, req.query);
    const [rows, entityTypes] = await Promise.all([auditEntries(db, filter, PAGE + 1), auditEntityTypes(db)]);
    const entries = await auditEntryViews(db, rows.slice(0, PAGE));
    const older = rows.length > PAGE ? linkKeeping(url.audit(), filter)({ before: entries[entries.length - 1].id }) : null;
    render(req, res, VIEW, { title: 'Audit log', entries, entityTypes, filter, older, pageSize: PAGE });
  });
  return router;
}
