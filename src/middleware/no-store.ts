import type { RequestHandler } from 'express';

/**
 * Everything past the static files is made for one caller and may carry the rolling session cookie:
 * no cache, private or shared, may keep it (a shared cache serving a stored Set-Cookie hands one
 * person's session to the next). A route that wants revalidation instead says so itself (the runtime
 * config for product servers). Static assets are mounted before this and keep their validators.
 */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};
