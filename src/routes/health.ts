import { Router } from 'express';
import { type Db, databaseIsUp } from '../db/knex.ts';
import { DATABASE_RETRY_AFTER_S } from '../db/unavailable.ts';
import { Readiness } from '../http/readiness.ts';

/**
 * /healthz (SPEC §2): is this instance alive and its database reachable — unchanged while stopping.
 * /readyz: should a load balancer send it new requests — 503 from the moment shutdown begins.
 */
export function healthRoutes(db: Db, readiness = new Readiness()): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    const up = await databaseIsUp(db);
    res.set('Cache-Control', 'no-store');
    if (!up) res.set('Retry-After', String(DATABASE_RETRY_AFTER_S));
    res.status(up ? 200 : 503).json(up ? { status: 'ok', db: 'ok' } : { status: 'error', db: 'unreachable' });
  });
  router.get('/readyz', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.status(readiness.stopping ? 503 : 200).json({ status: readiness.stopping ? 'stopping' : 'ready' });
  });
  return router;
}
