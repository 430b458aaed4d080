import { Router } from 'express';
import { z } from 'zod';
import { findFeature } from '../../db/queries/features.ts';
import { recordConfigFetch } from '../../db/queries/runtime-config-fetches.ts';
import { ENVIRONMENTS } from '../../domain.ts';
import { notFound } from '../../http/errors.ts';
import { choice, parseQuery } from '../../http/query.ts';
import { runtimeConfig } from '../../services/runtime-config.ts';
import type { RouteDeps } from '../deps.ts';

const querySchema = z.object({
  environment: choice(ENVIRONMENTS).default('production'),
  end_user_id: z.string().min(1).max(256).optional(),
});

/** GET /api/v1/features/:name/config?environment=&end_user_id= (SPEC §7, §10.5): how a choice made here takes effect in the product. Mounted at /api/v1. */
export function runtimeConfigRoutes({ db }: RouteDeps): Router {
  const router = Router();
  router.get('/features/:name/config', async (req, res) => {
    const { environment, end_user_id } = parseQuery(querySchema, {
      environment: req.query.environment,
      end_user_id: req.query.end_user_id,
    });
    const feature = await findFeature(db, String(req.params.name));
    if (!feature) throw notFound('Feature');
    const now = new Date();
    const config = await runtimeConfig(db, feature, environment, now, end_user_id);
    const etag = `"${config.version}"`;
    res.set('ETag', etag);
    // A product server's token: revalidate each time, and which version it now holds is noted (a 304 too).
    // A session's answer carries its cookie and stays no-store; a person reading it is no client.
    if (req.principal?.kind === 'token') {
      res.set('Cache-Control', 'no-cache');
      await recordConfigFetch(db, { apiKeyId: req.principal.id, featureId: feature.id, environment, version: config.version, at: now });
    }
    if (req.get('If-None-Match') === etag) return void res.status(304).end();
    res.json(config);
  });
  return router;
}
