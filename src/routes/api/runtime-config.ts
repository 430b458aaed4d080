import { Router } from 'express';
import type { Db } from '../../db/knex.ts';
import { ENVIRONMENTS, type Environment, findFeature } from '../../db/queries/features.ts';
import { HttpError, notFound } from '../../http/errors.ts';
import { runtimeConfig } from '../../services/runtime-config.ts';

/** GET /api/v1/features/:name/config?environment= (SPEC §7): how a choice made here takes effect in the product. */
export function runtimeConfigRoutes(db: Db): Router {
  const router = Router();
  router.get('/v1/features/:name/config', async (req, res) => {
    const environment = (req.query.environment ?? 'production') as Environment;
    if (!ENVIRONMENTS.includes(environment)) throw new HttpError(400, `environment must be one of ${ENVIRONMENTS.join(', ')}`);
    const feature = await findFeature(db, String(req.params.name));
    if (!feature) throw notFound('Feature');
    const config = await runtimeConfig(db, feature, environment);
    const etag = `"${config.version}"`;
    res.set('ETag', etag);
    // A product server's token: revalidate each time. A session's answer carries its cookie and stays no-store.
    if (req.principal?.kind === 'token') res.set('Cache-Control', 'no-cache');
    if (req.get('If-None-Match') === etag) return void res.status(304).end();
    res.json(config);
  });
  return router;
}
