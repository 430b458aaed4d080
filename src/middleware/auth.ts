import type { RequestHandler } from 'express';
import { canRead, canWrite } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';
import { forbidden } from '../http/errors.ts';
import { authenticateToken } from '../services/api-keys.ts';

export const isApi = (url: string) => url.startsWith('/api/');

/**
 * Works out who is asking: a bearer token (only on /api) or the signed-in user of the session.
 * A session older than its absolute lifetime is ended here, whatever its activity.
 */
export function identify(db: Db, absoluteMs: number): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('Authorization');
    if (header !== undefined && isApi(req.originalUrl)) {
      const [scheme, token] = header.split(' ');
      const principal = scheme === 'Bearer' && token ? await authenticateToken(db, token) : null;
      if (!principal) {
        res.set('WWW-Authenticate', 'Bearer');
        return res.status(401).json({ success: false, error: 'Invalid or revoked API token' });
      }
      req.principal = principal;
      return next();
    }
    if (req.user) {
      const startedAt = req.session.authenticatedAt ?? 0;
      if (Date.now() - startedAt > absoluteMs) {
        // regenerate() drops the old session from the store and starts an empty one.
        return req.session.regenerate((err) => {
          req.user = undefined;
          next(err);
        });
      }
      req.principal = { kind: 'user', id: req.user.id, label: req.user.email, role: req.user.role };
    }
    next();
  };
}

/** Percent-decoding repeated until nothing changes (a proxy in front may decode once more); undefined if malformed. */
function fullyDecoded(text: string): string | undefined {
  let current = text;
  for (let i = 0; i < 5; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return undefined;
    }
    if (next === current) return current;
    current = next;
  }
  return undefined;
}

/**
 * A local path to return to after sign-in; anything that could leave this origin becomes '/'.
 * The check is made on what a browser would follow, after normalising: the path is resolved (`/a/..`,
 * `%2e%2e`), then decoded as often as it decodes, and it must still be one path of this site: a
 * single leading slash, no `//` or backslash anywhere, no dot segment left, no control character.
 */
function safeNext(url: string): string {
  if (!url.startsWith('/') || /[\\\u0000-\u001f\u007f]/.test(url)) return '/';
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://switchboard.invalid');
  } catch {
    return '/';
  }
  if (parsed.origin !== 'http://switchboard.invalid') return '/';
  const path = fullyDecoded(parsed.pathname);
  if (path === undefined || !path.startsWith('/')) return '/';
  if (/\/\/|\\|[\u0000-\u001f\u007f]|\/\.\.?(\/|$)/.test(path)) return '/';
  return parsed.pathname + parsed.search;
}

/** Everything past this needs a principal: pages send people to /login, the API answers 401. */
export const requireAuth: RequestHandler = (req, res, next) => {
  if (req.principal) return next();
  if (isApi(req.originalUrl)) {
    res.set('WWW-Authenticate', 'Bearer');
    return res.status(401).json({ success: false, error: 'Authentication required' });
  }
  const login = `/login?next=${encodeURIComponent(safeNext(req.originalUrl))}`;
  if (req.htmx.request) return res.set('HX-Redirect', login).status(401).end();
  res.redirect(303, login);
};

/** Reads need a person or a token with read scope. */
export const requireRead: RequestHandler = (req, _res, next) =>
  next(req.principal && canRead(req.principal) ? undefined : forbidden('This token may not read this API'));

/** Changes need the admin role, or a token with admin scope. */
export const requireWrite: RequestHandler = (req, _res, next) =>
  next(req.principal && canWrite(req.principal) ? undefined : forbidden('Only admins can make changes'));

export { safeNext };
