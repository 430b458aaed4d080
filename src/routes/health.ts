import { Router } from 'express';
import { type Db, databaseIsUp } from '../db/knex.ts';

export function healthRoutes(db: Db): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const up = await databaseIsUp(db);
    res.set('Cache-Control', 'no-store');
    res.status(up ? 200 : 503).json(up ? { status: 'ok', db: 'ok' } : { status: 'error', db: 'unreachable' });
  });
  return router;
}
