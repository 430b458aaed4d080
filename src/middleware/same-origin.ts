import type { Request, RequestHandler } from 'express';
import { forbidden } from '../http/errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REFUSED = 'This change was sent from another site and is refused. Reload the page and try again.';

/** The origin of a URL as the browser serialises it (default port dropped, lower case), or undefined. */
function originOf(value: string): string | undefined {
  try {
    const origin = new URL(value).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * This app's own origin as the client sees it: the scheme and Host, or X-Forwarded-Proto and
 * X-Forwarded-Host when TRUST_PROXY says a proxy in front sets them (Express decides which it trusts).
 */
const ownOrigin = (req: Request) => originOf(`${req.protocol}://${req.host}`);

/** Whether a write came from another origin (false when it cannot tell: see below). */
function crossOrigin(req: Request): boolean {
  const site = req.get('Sec-Fetch-Site');
  if (site === 'cross-site' || site === 'same-site') return true;
  const own = ownOrigin(req);
  const origin = req.get('Origin');
  if (origin !== undefined) return origin === 'null' || originOf(origin) !== own;
  const referer = req.get('Referer');
  if (referer !== undefined) return originOf(referer) !== own;
  // Neither header: not a current browser (they send Origin on every POST), so a script or an old
  // client with the session cookie. The CSRF token still has to match; that is the protection here.
  return false;
}

/**
 * Refuses writes that a browser sent from another origin, on top of the CSRF token (Grafana
 * CVE-2022-21703: a same-site page could post with the cookie). Bearer-token calls carry no ambient
 * credential and are not checked. Runs after identify() and before every route, /login included.
 */
export const sameOriginWrites: RequestHandler = (req, _res, next) => {
  if (SAFE_METHODS.has(req.method) || req.principal?.kind === 'token') return next();
  next(crossOrigin(req) ? forbidden(REFUSED) : undefined);
};
