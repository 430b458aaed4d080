import type { Request, RequestHandler, Response } from 'express';
import type { Db } from '../db/knex.ts';
import { notFound } from '../http/errors.ts';
import type { Telemetry } from '../http/telemetry.ts';
import type { Providers } from '../providers/index.ts';

/** What every router is built with: the database, the provider adapters, the display time zone and the app's telemetry. */
export interface RouteDeps {
  db: Db;
  providers: Providers;
  timeZone: string;
  telemetry: Telemetry;
  /** How long an ingest waits for a lock before answering 503 (AppConfig.ingestLockTimeoutMs). */
  ingestLockTimeoutMs?: number;
}

/**
 * A `router.param` loader (express's `load` pattern): finds the row a path segment names and keeps
 * it in res.locals under `name`, or answers 404 naming what was not found. A segment that cannot be
 * such a row (`shaped` says no: an id that is not a uuid) is an unknown page, like any other path.
 */
export function loader<T>(name: string, what: string, find: (value: string) => Promise<T | undefined>, shaped = (_value: string) => true) {
  const load: (...args: [...Parameters<RequestHandler>, string]) => void = (_req, res, next, value) => {
    if (!shaped(value)) return next(notFound());
    find(value).then((row) => {
      if (row === undefined) return next(notFound(what));
      res.locals[name] = row;
      next();
    }, next);
  };
  return load;
}

/** How a route shows the features page again with its own state (a refused form, a result) and a status: src/routes/features.ts `show`. */
export type ShowFeatures<Extra> = (
  deps: RouteDeps,
  req: Request,
  res: Response,
  query: unknown,
  extra: Extra,
  status?: number,
) => Promise<void>;
