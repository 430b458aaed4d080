import crypto from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { type AugmentedRequest, ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Db } from '../db/knex.ts';
import { cookieOf } from './cookies.ts';
import { PgFailureStore } from './login-failures.ts';

const MINUTE = 60_000;
/** How long a browser that signed in to an account is remembered as that account's (see below). */
const DEVICE_MS = 180 * 24 * 60 * MINUTE;

export interface LoginLimitOptions {
  db: Db;
  /** SESSION_SECRET: the counters' keys and the device cookie are signed with keys derived from it. */
  secret: string;
  /** AppConfig.loginLimitScope: '' unless several deployments share one database. */
  scope: string;
  /** Answers a refused attempt (429); `retryAfterMs` is how long until the window that refused it ends. */
  refuse: (req: Request, res: Response, retryAfterMs: number) => void;
}

export interface LoginLimits {
  /** Run before the password is checked; only failures count (a sign-in that succeeds is taken back). */
  limiters: RequestHandler[];
  /** After a successful sign-in: remembers this browser as one the account's owner uses. */
  rememberDevice(req: Request, res: Response, email: string): void;
}

const emailOf = (req: Request) =>
  String((req.body as { email?: unknown } | undefined)?.email ?? '')
    .trim()
    .toLowerCase();
/** The client's address (the proxy's client with TRUST_PROXY); IPv6 by /56 network, as one host has many. */
const clientOf = (req: Request) => ipKeyGenerator(req.ip ?? '');

/**
 * Failed sign-ins, counted in PostgreSQL so every instance sees the same counts:
 * - 30 per 15 minutes per client address (guessing across many accounts);
 * - 5 per 15 minutes per account and client address: one place guessing one account;
 * - 50 per hour per account, from anywhere (guessing one account from many addresses). A browser that
 *   has signed in to the account before (a signed "device" cookie, OWASP's device cookies) is exempt
 *   from this one, so nobody can lock the owner out from elsewhere: an attacker only ever locks out
 *   the addresses they use.
 * Accounts are the email as typed, known or not, so the answers never tell whether one exists.
 */
export function createLoginLimits(o: LoginLimitOptions): LoginLimits {
  const derive = (purpose: string) => crypto.createHmac('sha256', o.secret).update(purpose).digest();
  const counterKey = derive('switchboard sign-in failure counters');
  const deviceKey = derive('switchboard sign-in device cookie');
  const deviceCookie = (req: Request) => (req.secure ? '__Host-sb.device' : 'sb.device');
  const signDevice = (email: string, nonce: string) =>
    crypto.createHmac('sha256', deviceKey).update(`${email}\0${nonce}`).digest('base64url');

  function knownDevice(req: Request): boolean {
    const [nonce, signature] = (cookieOf(req, deviceCookie(req)) ?? '').split('.');
    if (!nonce || !signature) return false;
    const expected = Buffer.from(signDevice(emailOf(req), nonce));
    const given = Buffer.from(signature);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  const limiter = (
    name: string,
    windowMs: number,
    limit: number,
    key: (req: Request) => string,
    extra: { skip?: (req: Request) => boolean } = {},
  ) =>
    rateLimit({
      windowMs,
      limit,
      skipSuccessfulRequests: true,
      // The address limit may say how many tries are left; the account limits must not (it would
      // tell an account that is being guessed from one that is not).
      standardHeaders: name === 'client' ? 'draft-8' : false,
      legacyHeaders: false,
      store: new PgFailureStore(o.db, counterKey, `${o.scope}:${name}`),
      keyGenerator: key,
      handler: (req, res) => {
        const resetTime = (req as AugmentedRequest).rateLimit.resetTime ?? new Date();
        o.refuse(req, res, Math.max(0, resetTime.getTime() - Date.now()));
      },
      ...extra,
    });

  return {
    limiters: [
      limiter('client', 15 * MINUTE, 30, clientOf),
      limiter('account-client', 15 * MINUTE, 5, (req) => `${emailOf(req)}\0${clientOf(req)}`),
      limiter('account', 60 * MINUTE, 50, emailOf, { skip: knownDevice }),
    ],
    rememberDevice(req, res, email) {
      const nonce = crypto.randomBytes(16).toString('base64url');
      const value = `${nonce}.${signDevice(email.trim().toLowerCase(), nonce)}`;
      res.cookie(deviceCookie(req), value, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/', maxAge: DEVICE_MS });
    },
  };
}
