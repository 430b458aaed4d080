import { Router } from 'express';
import { recentAudit } from '../db/queries/history.ts';
import type { Db } from '../db/knex.ts';
import { render } from '../views.ts';

const SHOWN = 200;

export function auditRoutes(db: Db): Router {
  const router = Router();
  router.get('/platform/ai-management/audit', async (req, res) => {
    render(req, res, { page: 'pages/audit' }, { title: 'Audit log', entries: await recentAudit(db, SHOWN), shown: SHOWN });
  });
  return router;
}
