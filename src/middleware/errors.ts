import type { ErrorRequestHandler, RequestHandler } from 'express';
import { DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/unavailable.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { render } from '../views.ts';
import { isApi } from './auth.ts';

export const notFoundHandler: RequestHandler = (req, _res, next) => next(notFound(isApi(req.originalUrl) ? 'Resource' : 'Page'));

// Text PostgreSQL cannot store (a NUL byte) that slipped past validation is the caller's mistake.
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

const statusOf = (err: unknown): number => {
  if (err instanceof HttpError) return err.status;
  if (UNSTORABLE_TEXT.has((err as { code?: string }).code ?? '')) return 400;
  const s = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  if (typeof s === 'number' && s >= 400 && s < 600) return s;
  // A database that is away (restarting, failing over, pool exhausted) is temporary: 503, retry.
  return isDatabaseUnavailable(err) ? 503 : 500;
};

const messageOf = (err: unknown, status: number): string => {
  if (err instanceof HttpError) return err.message;
  if ((err as { code?: string }).code === 'EBADCSRFTOKEN') return 'This form has expired. Reload the page and try again.';
  if (status === 413) return 'Request body too large';
  if (UNSTORABLE_TEXT.has((err as { code?: string }).code ?? ''))
    return 'The request contains characters that cannot be stored (such as a NUL byte)';
  if (status === 400) return 'Malformed request';
  return 'Something went wrong on our side';
};

/**
 * What of an error goes to the log. A PostgreSQL error's `detail` and `where` can quote the row it
 * refused ("Failing row contains (…)"), sealed keys included: they are left out.
 */
function loggable(err: unknown): unknown {
  if (!err || typeof err !== 'object' || !('detail' in err)) return err;
  const { name, message, stack, code, table, column, constraint } = err as Record<string, unknown>;
  return { name, message, stack, code, table, column, constraint };
}

/** The one error handler: a page, a fragment for htmx, or the JSON error shape for /api. */
export const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
  const status = statusOf(err);
  const away = status === 503 && isDatabaseUnavailable(err);
  if (away) req.log.warn({ err: loggable(err), correlationId: req.correlationId }, 'database unavailable');
  else if (status >= 500) req.log.error({ err: loggable(err), correlationId: req.correlationId }, 'request failed');
  const message = away ? DATABASE_UNAVAILABLE_MESSAGE : status >= 500 ? 'Something went wrong on our side' : messageOf(err, status);
  const details = err instanceof HttpError ? err.details : undefined;
  if (res.headersSent) return next(err);
  if (away) res.set('Retry-After', String(DATABASE_RETRY_AFTER_S));
  if (isApi(req.originalUrl)) {
    const body =
      status >= 500 ? { success: false, error: message, correlation_id: req.correlationId } : { success: false, error: message, details };
    return res.status(status).json(body);
  }
  res.locals.correlationId = req.correlationId;
  // htmx swaps error responses too: show them in the page's error area instead of in place of the
  // part that asked (which would take the tabs or the form with it).
  if (req.htmx?.request) res.set({ 'HX-Retarget': '#errors', 'HX-Reswap': 'innerHTML' });
  render(
    req,
    res,
    { page: 'pages/error', partial: 'partials/shared/error' },
    { title: status === 404 ? 'Not found' : 'Error', status, message },
    status,
  );
};
