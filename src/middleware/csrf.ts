import crypto from 'node:crypto';
import { csrfSync } from 'csrf-sync';
import type { Request, RequestHandler } from 'express';
import { cookieOf } from '../auth/cookies.ts';

const sync = csrfSync({
  // Forms send the token as a field; htmx and API callers with a session send the header.
  getTokenFromRequest: (req: Request) => (req.body as { _csrf?: string } | undefined)?._csrf ?? req.get('x-csrf-token'),
});

/** The sign-in form's protection, for visitors who have no session (see loginCsrf). */
interface LoginCsrf {
  /** The form field's value; sets the cookie it is bound to when there is none yet. */
  token(): string;
  /** Whether the request's form field matches its cookie. */
  valid(): boolean;
}

declare global {
  namespace Express {
    interface Request {
      loginCsrf?: LoginCsrf;
    }
  }
}

/** The CSRF token of what is rendered: the session's for a signed-in user, the sign-in form's otherwise (no session is made). */
export const csrfToken = (req: Request) => (req.user ? sync.generateToken(req) : (req.loginCsrf?.token() ?? ''));

/** Refuses unsafe requests without the session's token; bearer-token requests carry no cookie and skip it. */
export const csrfProtection: RequestHandler = (req, res, next) =>
  req.principal?.kind === 'token' ? next() : sync.csrfSynchronisedProtection(req, res, next);

const LOGIN_COOKIE_MS = 2 * 60 * 60 * 1000;
const NONCE = /^[\w-]{22}$/;

/**
 * The sign-in form's CSRF protection without a session, so anonymous visitors write nothing to the
 * store: a signed double-submit token. A random nonce lives in a cookie (`__Host-` over HTTPS,
 * HttpOnly, SameSite=Lax so that arriving from a link elsewhere keeps the nonce an open tab's form
 * was signed with); the form carries HMAC(key, nonce), the key derived from SESSION_SECRET.
 * Another site can neither read the cookie nor sign a nonce of its own, and the same-origin check
 * (same-origin.ts) refuses its posts first anyway.
 */
export function loginCsrf(secret: string): RequestHandler {
  const key = crypto.createHmac('sha256', secret).update('switchboard sign-in form csrf').digest();
  const sign = (nonce: string) => crypto.createHmac('sha256', key).update(nonce).digest('base64url');
  return (req, res, next) => {
    const name = req.secure ? '__Host-sb.login' : 'sb.login';
    let nonce = cookieOf(req, name);
    req.loginCsrf = {
      token() {
        if (!nonce || !NONCE.test(nonce)) {
          nonce = crypto.randomBytes(16).toString('base64url');
          res.cookie(name, nonce, { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/', maxAge: LOGIN_COOKIE_MS });
        }
        return sign(nonce);
      },
      valid() {
        const given = (req.body as { _csrf?: unknown } | undefined)?._csrf;
        if (!nonce || !NONCE.test(nonce) || typeof given !== 'string') return false;
        const expected = Buffer.from(sign(nonce));
        const actual = Buffer.from(given);
        return actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
      },
    };
    next();
  };
}

/** Refuses a sign-in post whose form token does not match its cookie, as csrf-sync refuses (403, EBADCSRFTOKEN). */
export const loginCsrfProtection: RequestHandler = (req, _res, next) =>
  next(req.loginCsrf?.valid() ? undefined : Object.assign(new Error('invalid csrf token'), { status: 403, code: 'EBADCSRFTOKEN' }));
