import { csrfSync } from 'csrf-sync';
import type { Request, RequestHandler } from 'express';

const sync = csrfSync({
  // Forms send the token as a field; htmx and API callers with a session send the header.
  getTokenFromRequest: (req: Request) => (req.body as { _csrf?: string } | undefined)?._csrf ?? req.get('x-csrf-token'),
});

export const csrfToken = (req: Request) => sync.generateToken(req);

/** Refuses unsafe requests without the session's token; bearer-token requests carry no cookie and skip it. */
export const csrfProtection: RequestHandler = (req, res, next) =>
  req.principal?.kind === 'token' ? next() : sync.csrfSynchronisedProtection(req, res, next);
