import type { RequestHandler } from 'express';
import { canWrite } from '../auth/principal.ts';
import type { Format } from '../format.ts';
import { url } from '../http/urls.ts';

export const NAV = [
  { href: url.overview(), label: 'Overview' },
  { href: url.features(), label: 'Features' },
  { href: url.catalogue(), label: 'Models & Providers' },
  { href: url.approvals(), label: 'Approvals' },
  { href: url.audit(), label: 'Audit log' },
  { href: url.alerts(), label: 'Alerts' },
  { href: url.apiKeys(), label: 'API keys' },
];

/** Safe defaults first, so that even an error raised before the session loads can render. */
export function baseLocals(fmt: Format): RequestHandler {
  return (req, res, next) => {
    Object.assign(res.locals, { fmt, url, nav: NAV, path: req.path, user: undefined, canWrite: false, takeFlash: () => [], csrfToken: '' });
    next();
  };
}

/**
 * What the signed-in view adds: who is asking, and the session's flash messages — taken only by the
 * template that shows them, so a poll or an API call in between does not swallow them.
 */
export const sessionLocals: RequestHandler = (req, res, next) => {
  Object.assign(res.locals, {
    user: req.user,
    canWrite: req.principal ? canWrite(req.principal) : false,
    takeFlash: () => {
      const flash = req.session.flash ?? [];
      delete req.session.flash;
      return flash;
    },
  });
  next();
};
