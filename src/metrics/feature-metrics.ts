import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import type { Environment } from '../domain.ts';
import { costTrendOf, headline, shares, uptimeOf, wantsExactPercentiles } from './definitions.ts';
import { percentileFromHistogram } from './histogram.ts';
import {
  addSums,
  badMinutes,
  breakdown,
  type ExactPercentiles,
  exactPercentiles,
  inSnapshot,
  recordedBy,
  requestsByLocalHour,
  type Sums,
  sumsByScope,
  toSums,
} from './queries.ts';
import { bucketStarts, minuteSlots, minutesIn, previousWindow, RANGES, type RangeName, type Window, windowOf } from './ranges.ts';
import { performanceScore, scoreLabel } from './scores.ts';
import { wholeHourOffsets } from './time-zone.ts';
import { type UniqueUsers, uniqueUsers } from './unique-users.ts';

/** What a feature's dashboard is computed from, read in one snapshot so the figures agree with each other. */
export interface FeatureSums {
  range: RangeName;
  /** The environment the sums count (null: all); bad minutes and unique users always count all of them. */
  environment: Environment | null;
  now: Date;
  window: Window;
  /** Per chart bucket (its start in epoch ms), and their total. */
  buckets: Map<number, Sums>;
  total: Sums;
  byModel: Map<string, Sums>;
  models: Pick<Row<'ai_models'>, 'id' | 'display_name'>[];
  /** Requests per hour of the day in the display time zone. */
  byLocalHour: Map<number, number>;
  previousCost: number;
  previousRequests: number;
  /** The feature had recorded an event by the earlier range's start: that range is a baseline (SPEC §4 cost_trend). */
  earlierCovered: boolean;
  badMinutes: number;
  uniqueUsers: UniqueUsers;
  /** Percentiles from raw rows when the range has few enough events (wantsExactPercentiles). */
  exact: Awaited<ReturnType<typeof exactPercentiles>> | null;
  /** Only when split by prompt version: per version (0: the events that named none), per chart bucket. */
  byVersion?: Map<number, Map<number, Sums>>;
}

/** What a feature's figures can be split by besides the model (SPEC §10.1). */
export const SPLITS = ['prompt_version'] as const;
export type Split = (typeof SPLITS)[number];

/** The feature dashboard's inputs for a range ending now in one environment (null: all), in one snapshot. */
export async function readFeatureSums(
  db: Db,
  feature: FeatureRow,
  range: RangeName,
  now: Date,
  timeZone: string,
  environment: Environment | null = null,
  split?: Split,
): Promise<FeatureSums> {
  const w = windowOf(range, now);
  const { bucket, bucketMs } = RANGES[range];
  const ids = [feature.id];
  const byVersion = split === 'prompt_version';
  return inSnapshot(
    db,
    async (trx) => {
      const { byBucket: buckets, byModel, byVersion: versions } = await breakdown(trx, 'feature', ids, w, bucket, bucketMs, byVersion);
      const byLocalHour = await requestsByLocalHour(trx, 'feature', ids, w, timeZone, wholeHourOffsets(timeZone, w.from, now));
      const total = addSums(buckets.values());
      const earlier = previousWindow(range, now);
      const previous = await sumsByScope(trx, 'feature', ids, earlier, ['requests', 'cost_usd']);
      const earlierCovered = await recordedBy(trx, feature.id, earlier.from);
      const bad = await badMinutes(trx, 'feature', [{ id: feature.id, threshold: Number(feature.error_rate_threshold) }], w);
      const users = await uniqueUsers(trx, ids, w);
      const exact = wantsExactPercentiles(total.requests) ? await exactPercentiles(trx, 'feature', ids, w, bucket, byVersion) : null;
      const models = await trx
        .db('ai_models')
        .whereIn('id', [...byModel.keys()])
        .select('id', 'display_name');
      return {
        range,
        environment,
        now,
        window: w,
        buckets,
        total,
        byModel,
        models,
        byLocalHour,
        previousCost: previous.get(feature.id)?.cost_usd ?? 0,
        previousRequests: previous.get(feature.id)?.requests ?? 0,
        earlierCovered,
        badMinutes: bad.get(feature.id) ?? 0,
        uniqueUsers: users.get(feature.id) ?? { count: 0, estimated: false },
        exact,
        ...(versions && { byVersion: versions }),
      };
    },
    environment,
  );
}

/**
 * The feature dashboard's figures (the plan's FeatureMetrics, with p50/p95/p99 and per-point p95 and
 * requests) from its sums: no reads, so it can be checked on sums made by hand.
 */
export function shapeFeatureMetrics(sums: FeatureSums) {
  const { range, total } = sums;
  const h = headline(total);
  const [p50, p95, p99] = sums.exact?.overall ?? [h.p50, h.p95, h.p99];
  const realtime = {
    uptime: uptimeOf(total.requests, sums.badMinutes, minuteSlots(sums.window)),
    error_rate: h.error_rate,
    response_time: h.response_time,
    requests_per_minute: total.requests / minutesIn(range),
    success_rate: h.success_rate,
    cost_per_request: h.cost_per_request,
    p50,
    p95,
    p99,
  };
  const peak = [...sums.byLocalHour.entries()].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  return {
    realtime,
    historical: { timeRange: range, bucket: RANGES[range].bucket, data: seriesOf(sums) },
    usage: {
      total_requests: total.requests,
      unique_users: sums.uniqueUsers.count,
      unique_users_approximate: sums.uniqueUsers.estimated,
      peak_usage_hour: peak ? peak[0] : null,
      avg_requests_per_user: sums.uniqueUsers.count ? total.requests / sums.uniqueUsers.count : null,
    },
    costs: costsOf(sums),
    performance: performanceOf(realtime),
    ...(sums.byVersion && { by_prompt_version: versionsOf(sums, sums.byVersion) }),
  };
}

/**
 * The split by prompt version: per version, in version order with the events that named none
 * (prompt_version null) last, its headline figures and its series; the versions add up to the whole.
 */
function versionsOf(sums: FeatureSums, byVersion: Map<number, Map<number, Sums>>) {
  const none: ExactPercentiles = { overall: null, byBucket: new Map() };
  return [...byVersion.entries()]
    .sort(([a], [b]) => (a || Infinity) - (b || Infinity))
    .map(([version, buckets]) => {
      const total = addSums(buckets.values());
      const h = headline(total);
      const exact = sums.exact ? (sums.exact.byVersion?.get(version) ?? none) : null;
      return {
        prompt_version: version || null,
        total_requests: total.requests,
        success_rate: h.success_rate,
        error_rate: h.error_rate,
        response_time: h.response_time,
        p95: exact ? (exact.overall?.[1] ?? null) : h.p95,
        total_cost: total.cost_usd,
        cost_per_request: h.cost_per_request,
        data: pointsOf(sums, buckets, exact),
      };
    });
}

/** The points of the charts, one per bucket of the range. */
const seriesOf = (sums: FeatureSums) => pointsOf(sums, sums.buckets, sums.exact);

/** One series' points from its sums per bucket, with exact p95s when the range has them. */
function pointsOf({ range, now, window: w }: FeatureSums, buckets: Map<number, Sums>, exact: ExactPercentiles | null) {
  return bucketStarts(range, w.from, now).map((start) => {
    const s = buckets.get(start.getTime()) ?? toSums(undefined);
    const point = headline(s);
    return {
      timestamp: new Date(Math.max(start.getTime(), w.from.getTime())).toISOString(),
      requests: s.requests,
      throughput: s.requests,
      response_time: point.response_time,
      p95: exact ? (exact.byBucket.get(start.getTime())?.[1] ?? null) : percentileFromHistogram(s.hist, 0.95),
      error_rate: point.error_rate,
      cost: s.cost_usd,
    };
  });
}

function costsOf({ total, previousCost, previousRequests, earlierCovered, models, byModel }: FeatureSums) {
  const perRequest = total.requests ? total.cost_usd / total.requests : null;
  const previousPerRequest = previousRequests ? previousCost / previousRequests : 0;
  return {
    total_cost: total.cost_usd,
    previous_cost: previousCost,
    cost_trend: costTrendOf(total.cost_usd, previousCost, earlierCovered),
    /** Cost per request against the earlier range's, by the same baseline rule as cost_trend (null without requests now). */
    cost_per_request_trend: perRequest === null ? null : costTrendOf(perRequest, previousPerRequest, earlierCovered),
    cost_breakdown: shares(
      models
        .map((m) => ({
          category: m.display_name,
          model_id: m.id,
          amount: byModel.get(m.id)!.cost_usd,
          requests: byModel.get(m.id)!.requests,
        }))
        .sort((a, b) => b.amount - a.amount || b.requests - a.requests),
    ),
    cost_by_direction: shares([
      { category: 'input', amount: total.input_cost_usd },
      { category: 'output', amount: total.cost_usd - total.input_cost_usd },
    ]),
  };
}

function performanceOf(realtime: { uptime: number | null; response_time: number | null; success_rate: number | null }) {
  const performance = performanceScore(realtime);
  return (
    performance && {
      ...performance,
      labels: {
        reliability: scoreLabel(realtime.uptime, 99, 95),
        speed: scoreLabel(realtime.response_time === null ? null : 2000 - realtime.response_time, 1000, 500),
        accuracy: scoreLabel(realtime.success_rate, 98, 95),
      },
    }
  );
}

/** The feature dashboard's figures for a range ending now, in one environment (null: all of them). */
export async function featureMetrics(
  db: Db,
  feature: FeatureRow,
  range: RangeName,
  now: Date,
  timeZone: string,
  environment: Environment | null = null,
  split?: Split,
) {
  return shapeFeatureMetrics(await readFeatureSums(db, feature, range, now, timeZone, environment, split));
}

export type FeatureMetrics = Awaited<ReturnType<typeof featureMetrics>>;
