import type { Request } from 'express';
import { z } from 'zod';
import { RANGE_NAMES, type RangeName } from '../metrics/ranges.ts';
import { HttpError } from './errors.ts';
import { type QueryValues, withQuery } from './urls.ts';

/**
 * The one way a query string is read: a repeated parameter counts by its first value, an empty one
 * as absent, and the first value the schema refuses is a 400 that names its parameter.
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const flat = Object.fromEntries(
    Object.entries((query ?? {}) as Record<string, unknown>)
      .map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])
      .filter(([, v]) => v !== ''),
  );
  const parsed = schema.safeParse(flat);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const name = issue.path.length ? String(issue.path[0]) : 'query';
  throw new HttpError(400, `${name} ${issue.message}`, { [name]: flat[name] });
}

/** One of a fixed list of values, with a message that lists them. */
export const choice = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `must be one of ${values.join(', ')}` });

export const rangeParam = choice(RANGE_NAMES as unknown as [RangeName, ...RangeName[]]);
export const formatParam = choice(['html', 'csv']).default('html');

/**
 * Links that keep a page's state and change one part of it; values equal to their default are left
 * out, so the default view has the shortest URL.
 */
export function linkKeeping<Q extends QueryValues>(path: string, state: Q, defaults: Partial<Q> = {}) {
  return (change: Partial<Q> = {}) => {
    const next: QueryValues = { ...state, ...change };
    for (const [k, v] of Object.entries(defaults)) if (next[k] === v) delete next[k];
    return withQuery(path, next);
  };
}

/** The API's time_range parameter (default 24h). */
export const timeRangeOf = (req: Request): RangeName =>
  parseQuery(z.object({ time_range: rangeParam.default('24h') }), req.query).time_range;

/** The API's include_metrics flag: `true` or `1` is on, anything else off. */
export const includeMetrics = (req: Request) => req.query.include_metrics === 'true' || req.query.include_metrics === '1';
