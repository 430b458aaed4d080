import type { Request } from 'express';
import { isRange, RANGE_NAMES, type RangeName } from '../metrics/ranges.ts';
import { HttpError } from './errors.ts';

/** The time_range query parameter: a known range or a 400, never a silent default for bad input. */
export function timeRangeOf(req: Request, fallback: RangeName = '24h'): RangeName {
  const value = req.query.time_range;
  if (value === undefined) return fallback;
  if (!isRange(value)) throw new HttpError(400, `time_range must be one of ${RANGE_NAMES.join(', ')}`, { time_range: value });
  return value;
}

export const flagOf = (req: Request, name: string) => req.query[name] === 'true' || req.query[name] === '1';
