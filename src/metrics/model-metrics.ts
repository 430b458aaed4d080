import type { Db } from '../db/knex.ts';
import type { Point } from '../pages/charts.ts';
import { headline, wantsExactPercentiles } from './definitions.ts';
import { percentileFromHistogram } from './histogram.ts';
import { breakdown, exactPercentiles, inSnapshot, type Snapshot, toSums } from './queries.ts';
import { bucketStarts, RANGES, type RangeName, type Window, windowOf } from './ranges.ts';

/** One chart bucket of a model: its start (clipped to the range's), requests and rates (null without requests), as a feature's. */
export type ModelPoint = Point;

async function oneModel(s: Snapshot, id: string, range: RangeName, w: Window, now: Date) {
  const { bucket, bucketMs } = RANGES[range];
  const { byBucket, byModel } = await breakdown(s, 'model', [id], w, bucket, bucketMs);
  const total = byModel.get(id) ?? toSums(undefined);
  const exact = wantsExactPercentiles(total.requests) ? await exactPercentiles(s, 'model', [id], w, bucket) : null;
  const h = headline(total);
  const [p50, p95, p99] = exact?.overall?.map(Number) ?? [h.p50, h.p95, h.p99];
  const series: ModelPoint[] = bucketStarts(range, w.from, now).map((start) => {
    const b = byBucket.get(start.getTime()) ?? toSums(undefined);
    const point = headline(b);
    const exactP95 = exact?.byBucket.get(start.getTime())?.[1];
    return {
      timestamp: new Date(Math.max(start.getTime(), w.from.getTime())).toISOString(),
      requests: b.requests,
      response_time: point.response_time,
      p95: exact ? (exactP95 === undefined ? null : Number(exactP95)) : percentileFromHistogram(b.hist, 0.95),
      error_rate: point.error_rate,
      cost: b.cost_usd,
    };
  });
  return { headline: { ...h, p50, p95, p99 }, series };
}

export type ModelMetrics = Awaited<ReturnType<typeof oneModel>>;

/**
 * Each model's headline figures (SPEC §4; exact percentiles when the range holds few events) and its
 * chart buckets for a range ending now, all read in one snapshot so models compare on the same data.
 */
export function modelMetrics(db: Db, modelIds: string[], range: RangeName, now: Date): Promise<Map<string, ModelMetrics>> {
  const w = windowOf(range, now);
  return inSnapshot(db, async (s) => {
    const out = new Map<string, ModelMetrics>();
    for (const id of modelIds) out.set(id, await oneModel(s, id, range, w, now));
    return out;
  });
}
