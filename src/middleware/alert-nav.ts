import type { RequestHandler } from 'express';
import type { Db } from '../db/knex.ts';
import { url } from '../http/urls.ts';
import { firingCount } from '../services/alerts.ts';
import { NAV } from './locals.ts';

/** The navigation with Alerts and the number firing (one indexed count), for pages people open (GET, not the API). */
export function alertNav(db: Db): RequestHandler {
  return async (req, res, next) => {
    if (req.method !== 'GET' || req.path.startsWith('/api/')) return next();
    const firing = await firingCount(db);
    const alerts = { href: url.alerts(), label: firing ? `Alerts (${firing} firing)` : 'Alerts' };
    res.locals.nav = [...NAV.slice(0, -1), alerts, NAV[NAV.length - 1]];
    next();
  };
}
