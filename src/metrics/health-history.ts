import type { Db } from '../db/knex.ts';
import { headline, uptimeOf } from './definitions.ts';
import { badMinutesByHour, breakdown, inSnapshot, toSums } from './queries.ts';
import { bucketStarts, minuteSlots, RANGES, windowOf } from './ranges.ts';
import { healthScore, latencyScore } from './scores.ts';

const THRESHOLD = 5;

/**
 * A provider's health inputs hour by hour over the last 24 hours (UTC hours, the first clipped at the
 * window's start): requests, success rate, uptime, mean latency and its score, and the health score
 * those give for the hour alone — what moved the 24 h score. Three queries, in one snapshot.
 */
export function providerHealthHistory(db: Db, providerId: string, now: Date) {
  const w = windowOf('24h', now);
  const { bucket, bucketMs } = RANGES['24h'];
  return inSnapshot(db, async (trx) => {
    const { byBucket } = await breakdown(trx, 'provider', [providerId], w, bucket, bucketMs);
    const badByHour = new Map(
      (await badMinutesByHour(trx, 'provider', [{ id: providerId, threshold: THRESHOLD }], w)).map((r) => [r.hour, r.bad]),
    );
    return bucketStarts('24h', w.from, now).map((start) => {
      const hour = {
        from: new Date(Math.max(start.getTime(), w.from.getTime())),
        to: new Date(Math.min(start.getTime() + bucketMs, w.to.getTime())),
      };
      const sums = byBucket.get(start.getTime()) ?? toSums(undefined);
      const bad = badByHour.get(start.getTime()) ?? 0;
      const h = headline(sums);
      const inputs = {
        success_rate: h.success_rate,
        uptime: uptimeOf(sums.requests, bad, minuteSlots(hour)),
        response_time: h.response_time,
      };
      return {
        from: hour.from,
        requests: sums.requests,
        ...inputs,
        latency_score: inputs.response_time === null ? null : latencyScore(inputs.response_time),
        health_score: healthScore(inputs, false),
      };
    });
  });
}
