import { type Request, type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import { createLoginLimits, type LoginLimitOptions } from '../auth/login-limits.ts';
import type { PassportInstance } from '../auth/passport.ts';
import type { SessionUser } from '../auth/principal.ts';
import { sessionCookieName, sessionCookieOptions } from '../auth/session.ts';
import { BASE } from '../http/urls.ts';
import { safeNext } from '../middleware/auth.ts';
import { csrfProtection, loginCsrfProtection } from '../middleware/csrf.ts';
import { render } from '../views.ts';

const LOGIN = { page: 'pages/login' };
const GENERIC_FAILURE = 'Invalid email or password.';

const credentials = z.object({
  email: z.string().trim().min(1, 'Enter your email.').max(254),
  password: z.string().min(1, 'Enter your password.').max(256),
  next: z.string().max(2000).optional(),
});

/** A refused attempt: the form again, saying for how long (rounded up to the minute). */
function tooMany(req: Request, res: Response, retryAfterMs: number): void {
  const minutes = Math.max(1, Math.ceil(retryAfterMs / 60_000));
  res.set('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
  render(
    req,
    res,
    LOGIN,
    {
      title: 'Sign in',
      email: req.body?.email ?? '',
      next: safeNext(String(req.body?.next ?? '/')),
      error: `Too many sign-in attempts. Wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.`,
    },
    429,
  );
}

/** The limits' options, less how a refusal is answered (this module's page). */
export type AuthLimitOptions = Omit<LoginLimitOptions, 'refuse'>;

export function authRoutes(passport: PassportInstance, formParser: RequestHandler, limits: AuthLimitOptions): Router {
  const router = Router();
  // Counted in PostgreSQL: every instance on the database sees the same failures (auth/login-limits.ts).
  const { limiters, rememberDevice } = createLoginLimits({ ...limits, refuse: tooMany });

  router.get('/login', (req, res) => {
    if (req.user) return res.redirect(303, BASE);
    render(req, res, LOGIN, { title: 'Sign in', email: '', next: safeNext(String(req.query.next ?? '/')) });
  });

  router.post('/login', formParser, loginCsrfProtection, ...limiters, (req, res, next) => {
    const parsed = credentials.safeParse(req.body);
    const again = (status: number, error: string) =>
      render(
        req,
        res,
        LOGIN,
        { title: 'Sign in', email: String(req.body?.email ?? ''), next: safeNext(String(req.body?.next ?? '/')), error },
        status,
      );
    if (!parsed.success) return again(422, parsed.error.issues[0].message);
    passport.authenticate('local', (err: unknown, user: SessionUser | false) => {
      if (err) return next(err);
      if (!user) return again(401, GENERIC_FAILURE);
      // logIn regenerates the session: a session id from before sign-in is never reused.
      req.logIn(user, (loginErr) => {
        if (loginErr) return next(loginErr);
        req.session.authenticatedAt = Date.now();
        rememberDevice(req, res, user.email);
        const target = safeNext(parsed.data.next ?? '/');
        // The session is stored before the redirect goes (auth/session.ts): a browser following it at once
        // must find the sign-in time, or identify() takes the session for one past its lifetime.
        res.redirect(303, target === '/' ? BASE : target);
      });
    })(req, res, next);
  });

  router.post('/logout', formParser, csrfProtection, (req, res, next) => {
    req.logout((err) => {
      if (err) return next(err);
      req.session.destroy((destroyErr) => {
        if (destroyErr) return next(destroyErr);
        res.clearCookie(sessionCookieName(req), sessionCookieOptions(req)).redirect(303, '/login');
      });
    });
  });

  return router;
}
