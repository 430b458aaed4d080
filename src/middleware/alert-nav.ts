import type { RequestHandler } from 'express';
import type { Db } from '../db/knex.ts';
import { url } from '../http/urls.ts';
import { firingCount } from '../services/alerts.ts';
import { NAV } from './locals.ts';

/**
 * The navigation's Alerts item with the number firing (one indexed count), for whole pages people open:
 * GET, not the API, not an htmx fragment (polls and swaps show no navigation).
 */
export function alertNav(db: Db): RequestHandler {
  return async (req, res, next) => {
    const fragment = req.htmx.request && !req.htmx.boosted && !req.htmx.historyRestore;
    if (req.method !== 'GET' || req.path.startsWith('/api/') || fragment) return next();
    const firing = await firingCount(db);
    if (firing) res.locals.nav = NAV.map((item) => (item.href === url.alerts() ? { ...item, label: `Alerts (${firing} firing)` } : item));
    next();
  };
}
