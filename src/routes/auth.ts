import { type RequestHandler, Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { PassportInstance } from '../auth/passport.ts';
import type { SessionUser } from '../auth/principal.ts';
import { sessionCookieName, sessionCookieOptions } from '../auth/session.ts';
import { safeNext } from '../middleware/auth.ts';
import { csrfProtection, loginCsrfProtection } from '../middleware/csrf.ts';
import { render } from '../views.ts';

const LOGIN = { page: 'pages/login' };
const WINDOW_MS = 15 * 60 * 1000;
const GENERIC_FAILURE = 'Invalid email or password.';

const credentials = z.object({
  email: z.string().trim().min(1, 'Enter your email.').max(254),
  password: z.string().min(1, 'Enter your password.').max(256),
  next: z.string().max(2000).optional(),
});

const tooMany: RequestHandler = (req, res) =>
  render(
    req,
    res,
    LOGIN,
    { title: 'Sign in', email: req.body?.email ?? '', error: 'Too many sign-in attempts. Wait 15 minutes and try again.' },
    429,
  );

/**
 * Failed sign-ins are limited per account and per address. The account key is the email as typed,
 * known or not, so the answer never tells whether an account exists.
 */
const loginLimiters = () => [
  rateLimit({
    windowMs: WINDOW_MS,
    limit: 30,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: tooMany,
  }),
  rateLimit({
    windowMs: WINDOW_MS,
    limit: 5,
    skipSuccessfulRequests: true,
    standardHeaders: false,
    legacyHeaders: false,
    keyGenerator: (req) =>
      `account:${String(req.body?.email ?? '')
        .trim()
        .toLowerCase()}`,
    handler: tooMany,
  }),
];

export function authRoutes(passport: PassportInstance, formParser: RequestHandler): Router {
  const router = Router();
  const limiters = loginLimiters(); // per app: counts are not shared between app instances

  router.get('/login', (req, res) => {
    if (req.user) return res.redirect(303, '/platform/ai-management');
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
        const target = safeNext(parsed.data.next ?? '/');
        res.redirect(303, target === '/' ? '/platform/ai-management' : target);
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
