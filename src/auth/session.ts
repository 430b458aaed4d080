import connectPgSimple from 'connect-pg-simple';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import pg from 'pg';

/**
 * The session cookie's name: `__Host-sb.sid` over HTTPS, which browsers accept only when Secure,
 * Path=/ and without Domain (no subdomain or plain-HTTP page can set or shadow it); `sb.sid` over
 * plain HTTP for local use, where a `__Host-` cookie cannot exist.
 */
export const sessionCookieName = (req: Request) => (req.secure ? '__Host-sb.sid' : 'sb.sid');

/** The attributes the session cookie is set with, which clearing it must repeat. */
export const sessionCookieOptions = (req: Request) => ({ httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' }) as const;

export interface SessionOptions {
  databaseUrl: string;
  secret: string;
  /** Idle timeout: the cookie's Max-Age, renewed by every request (rolling). */
  idleMs: number;
  /** Told when an idle connection of the pool fails (unheard, it would end the process). */
  onPoolError: (err: Error) => void;
}

export interface Sessions {
  middleware: RequestHandler;
  /** Stops the stores' timers and closes their connections. */
  close(): Promise<void>;
}

/**
 * Sessions in PostgreSQL (`sessions`), never saved for a visitor who has not signed in (there is
 * nothing in them to keep). express-session takes one cookie name, so there is one instance per
 * scheme, picked by req.secure (the socket, or X-Forwarded-Proto with TRUST_PROXY). Each instance
 * needs a store of its own (express-session sets its cookie defaults on the store it is given), so
 * two stores share one connection pool; only one of them prunes expired rows.
 */
export function createSessions(o: SessionOptions): Sessions {
  const PgStore = connectPgSimple(session);
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 10 });
  pool.on('error', o.onPoolError);
  const store = (prune: boolean) =>
    new PgStore({ pool, tableName: 'sessions', createTableIfMissing: false, ...(prune ? {} : { pruneSessionInterval: false }) });
  const stores = [store(true), store(false)];
  const common = { secret: o.secret, resave: false, saveUninitialized: false, rolling: true } as const;
  const cookie = { httpOnly: true, sameSite: 'lax', path: '/', maxAge: o.idleMs } as const;
  const overHttps = session({ ...common, store: stores[0], name: '__Host-sb.sid', cookie: { ...cookie, secure: true } });
  const overHttp = session({ ...common, store: stores[1], name: 'sb.sid', cookie: { ...cookie, secure: false } });
  return {
    middleware: (req, res, next) => {
      storedBeforeRedirects(req, res, next);
      (req.secure ? overHttps : overHttp)(req, res, next);
    },
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      await pool.end();
    },
  };
}

/**
 * express-session stores a changed session only as the response ends, after its headers have gone,
 * and a browser follows a 303 as soon as the headers arrive: its next request could load the session
 * from before the change (a flash lost, a sign-in without its time). So a signed-in user's session is
 * stored first, then the redirect sent. Anonymous sessions are never stored (nothing is in them).
 */
function storedBeforeRedirects(req: Request, res: Response, next: NextFunction): void {
  const redirect = res.redirect.bind(res) as (...args: unknown[]) => void;
  res.redirect = ((...args: unknown[]) => {
    if (!req.session || !req.user) return redirect(...args);
    req.session.save((err) => (err ? next(err) : redirect(...args)));
  }) as Response['redirect'];
}
