import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { auditEntityTypes, auditEntries } from '../db/queries/audit.ts';
import { HttpError } from '../http/errors.ts';
import { CONTROL_MESSAGE, withoutControlCharacters } from '../http/validation.ts';
import { render } from '../views.ts';

const PATH = '/platform/ai-management/audit';
const PAGE = 100;
const VIEW = { page: 'pages/audit', partial: 'partials/audit/audit-results' };

// Filters live in the query string; empty fields mean "any".
const empty = (v: unknown) => (v === '' ? undefined : v);
const filterSchema = z.object({
  entity: z.preprocess(
    empty,
    z
      .string()
      .regex(/^[a-z_]{1,40}$/, 'entity must be an entity type such as feature or user')
      .optional(),
  ),
  action: z.preprocess(
    empty,
    z
      .string()
      .regex(/^[a-z_.]{1,60}$/, 'action must be lowercase letters, dots and underscores')
      .optional(),
  ),
  actor: z.preprocess(
    empty,
    z.string().max(200, 'actor must be at most 200 characters').refine(withoutControlCharacters, `actor ${CONTROL_MESSAGE}`).optional(),
  ),
  before: z.preprocess(empty, z.coerce.number().int('before must be an entry id').positive('before must be an entry id').optional()),
});

export function auditRoutes(db: Db): Router {
  const router = Router();
  router.get(PATH, async (req, res) => {
    const parsed = filterSchema.safeParse(req.query);
    if (!parsed.success) throw new HttpError(400, parsed.error.issues[0].message);
    const filter = parsed.data;
    const [rows, entityTypes] = await Promise.all([auditEntries(db, filter, PAGE + 1), auditEntityTypes(db)]);
    const entries = rows.slice(0, PAGE);
    const params = (extra: object) =>
      new URLSearchParams(
        Object.entries({ ...filter, ...extra })
          .filter((e) => e[1] !== undefined)
          .map(([k, v]) => [k, String(v)]),
      );
    const older = rows.length > PAGE ? `${PATH}?${params({ before: entries[entries.length - 1].id })}` : null;
    render(req, res, VIEW, { title: 'Audit log', entries, entityTypes, filter, older, pageSize: PAGE });
  });
  return router;
}
