import type { RequestHandler } from 'express';
import type { Format } from '../format.ts';
import { canWrite } from './auth.ts';

export const NAV = [
  { href: '/platform/ai-management', label: 'Overview' },
  { href: '/platform/ai-management/features', label: 'Features' },
  { href: '/platform/ai-management/models', label: 'Models & Providers' },
  { href: '/platform/ai-management/audit', label: 'Audit log' },
  { href: '/platform/ai-management/api-keys', label: 'API keys' },
];

/** Safe defaults first, so that even an error raised before the session loads can render. */
export function baseLocals(fmt: Format): RequestHandler {
  return (req, res, next) => {
    Object.assign(res.locals, { fmt, nav: NAV, path: req.path, user: undefined, canWrite: false, flash: [], csrfToken: '' });
    next();
  };
}

/** What the signed-in view adds: who is asking and the flash messages of this session. */
export const sessionLocals: RequestHandler = (req, res, next) => {
  const flash = req.session.flash ?? [];
  if (req.session.flash) delete req.session.flash;
  Object.assign(res.locals, {
    user: req.user,
    canWrite: req.principal ? canWrite(req.principal) : false,
    flash,
  });
  next();
};
