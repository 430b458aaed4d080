import { type RequestHandler, Router } from 'express';
import { canIngest } from '../../auth/principal.ts';
import { forbidden, HttpError } from '../../http/errors.ts';
import { ingestEvents, MAX_EVENTS } from '../../services/ingest.ts';
import type { RouteDeps } from '../deps.ts';

const requireIngest: RequestHandler = (req, _res, next) =>
  next(req.principal && canIngest(req.principal) ? undefined : forbidden('Sending usage needs an API token with the ingest scope'));

/** POST /api/v1/usage (SPEC §7): the product reports what its AI features did. Mounted at /api/v1. */
export function usageApiRoutes({ db, telemetry, ingestLockTimeoutMs }: RouteDeps): Router {
  const router = Router();
  router.post('/usage', requireIngest, async (req, res) => {
    const events = (req.body as { events?: unknown } | undefined)?.events;
    if (!Array.isArray(events)) throw new HttpError(400, 'The body must be a JSON object {"events": [...]}');
    if (events.length > MAX_EVENTS) throw new HttpError(413, `At most ${MAX_EVENTS} events per request (got ${events.length})`);
    const result = await ingestEvents(db, events, new Date(), ingestLockTimeoutMs);
    telemetry.ingestEvents.inc({ outcome: 'accepted' }, result.accepted);
    telemetry.ingestEvents.inc({ outcome: 'duplicate' }, result.duplicates);
    telemetry.ingestEvents.inc({ outcome: 'rejected' }, result.rejected.length);
    res.json(result);
  });
  return router;
}
