import type { RequestHandler } from 'express';

/** Reads the htmx request headers once; every response may differ by them, so says so in Vary. */
export const htmx: RequestHandler = (req, res, next) => {
  req.htmx = {
    request: req.get('HX-Request') === 'true',
    boosted: req.get('HX-Boosted') === 'true',
    historyRestore: req.get('HX-History-Restore-Request') === 'true',
    target: req.get('HX-Target') || undefined,
  };
  res.vary('HX-Request');
  next();
};
