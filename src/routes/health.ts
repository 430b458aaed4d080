import { Router } from 'express';
import { type Db, databaseIsUp } from '../db/knex.ts';
import { pendingMigrations } from '../db/migrate.ts';
import { DATABASE_RETRY_AFTER_S } from '../db/unavailable.ts';
import { Readiness } from '../http/readiness.ts';

/**
 * /healthz (SPEC §2): is this instance alive and its database reachable — unchanged while stopping.
 * /readyz: should a load balancer send it new requests — 503 from the moment shutdown begins, while
 * the database is unreachable, and while migrations this code needs have not run (an instance of a
 * new release started before `npm run db:migrate` waits for it instead of failing requests).
 */
export function healthRoutes(db: Db, readiness = new Readiness()): Router {
  const router = Router();
  // Once the schema is current it stays so for this code: no need to ask again.
  let schemaCurrent = false;
  const pending = async () => {
    if (schemaCurrent) return [];
    const names = await pendingMigrations(db);
    schemaCurrent = names.length === 0;
    return names;
  };
  router.get('/healthz', async (_req, res) => {
    const up = await databaseIsUp(db);
    res.set('Cache-Control', 'no-store');
    if (!up) res.set('Retry-After', String(DATABASE_RETRY_AFTER_S));
    res.status(up ? 200 : 503).json(up ? { status: 'ok', db: 'ok' } : { status: 'error', db: 'unreachable' });
  });
  router.get('/readyz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    if (readiness.stopping) return void res.status(503).json({ status: 'stopping' });
    if (!(await databaseIsUp(db))) {
      res.set('Retry-After', String(DATABASE_RETRY_AFTER_S));
      return void res.status(503).json({ status: 'unavailable', db: 'unreachable' });
    }
    const waiting = await pending().catch(() => undefined);
    if (waiting === undefined) return void res.status(503).json({ status: 'unavailable', db: 'unreachable' });
    if (waiting.length) return void res.status(503).json({ status: 'migrations pending', pending: waiting });
    res.json({ status: 'ready' });
  });
  return router;
}
