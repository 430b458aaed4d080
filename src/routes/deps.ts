import type { RequestHandler } from 'express';
import type { Db } from '../db/knex.ts';
import { HttpError } from '../http/errors.ts';
import type { Providers } from '../providers/index.ts';

/** What every router is built with: the database, the provider adapters and the display time zone. */
export interface RouteDeps {
  db: Db;
  providers: Providers;
  timeZone: string;
}

/**
 * A `router.param` loader (express's `load` pattern): finds the row a path segment names and keeps
 * it in res.locals under `name`, or answers 404 naming what was not found.
 */
export function loader<T>(name: string, what: string, find: (value: string) => Promise<T | undefined>) {
  const load: (...args: [...Parameters<RequestHandler>, string]) => void = (_req, res, next, value) => {
    find(value).then((row) => {
      if (row === undefined) return next(new HttpError(404, `${what} not found`));
      res.locals[name] = row;
      next();
    }, next);
  };
  return load;
}
