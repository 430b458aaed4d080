import type { Db } from '../db/knex.ts';
import { MIN_RAW_RETENTION_DAYS } from '../db/retention.ts';
import type { Environment } from '../domain.ts';
import { EXACT_PERCENTILES_UP_TO, headline, uptimeOf, wantsExactPercentiles } from './definitions.ts';
import { fewRequestFigures } from './few-requests.ts';
import { HIST_COLUMNS } from './histogram.ts';
import {
  badMinutes,
  costByScope,
  costByScopeFromMonth,
  inSnapshot,
  READ_EVERY_FROM,
  type Snapshot,
  sumsByScope,
  sumsWithExactPercentiles,
  toSums,
} from './queries.ts';
import { minuteSlots, type RangeName, type Window, windowOf } from './ranges.ts';
import { healthScore } from './scores.ts';
import type { Scope } from './segments.ts';

/** The default error-rate threshold (%) for models and providers, which have no setting of their own. */
const DEFAULT_THRESHOLD = 5;
const PROBE_CAP_MS = 15 * 60_000;

export type Headline = ReturnType<typeof headline>;
export type Summary = Headline & { uptime: number | null };

/** The sums a headline needs besides the histogram. */
const HEADLINE_COLUMNS = ['requests', 'successes', 'latency_sum_ms', 'cost_usd'] as const;

/**
 * Headline figures (exact percentiles where few requests) for each member of a scope, in one snapshot.
 * With many members, those certain to have few requests come whole from their raw rows (fewRequestFigures),
 * and the rest, which mostly have many, get their histogram with their sums. Otherwise the sums come first,
 * with exact percentiles where few requests, and the histogram (39 of the sums' columns, most of their cost)
 * is read next only for the members whose percentiles come from it. Two reads whatever the number of members.
 */
export async function headlines(db: Snapshot, scope: Scope, ids: string[], w: Window): Promise<Map<string, Headline>> {
  // Only where raw rows are kept for the whole window: it ends now, and is no longer than retention keeps them.
  const raw = w.endsNow && w.to.getTime() - w.from.getTime() <= MIN_RAW_RETENTION_DAYS * 86_400_000;
  const few =
    raw && ids.length >= READ_EVERY_FROM
      ? await fewRequestFigures(db, scope, ids, w, HEADLINE_COLUMNS, EXACT_PERCENTILES_UP_TO)
      : new Map();
  const rest = few.size ? ids.filter((id) => !few.has(id)) : ids;
  const columns = few.size ? [...HEADLINE_COLUMNS, ...HIST_COLUMNS] : HEADLINE_COLUMNS;
  const read = new Map([...(await sumsWithExactPercentiles(db, scope, rest, w, columns, EXACT_PERCENTILES_UP_TO)), ...few]);
  const requests = (id: string) => read.get(id)?.sums.requests ?? 0;
  const hist = few.size
    ? new Map()
    : await sumsByScope(
        db,
        scope,
        rest.filter((id) => requests(id) > 0 && !wantsExactPercentiles(requests(id))),
        w,
        HIST_COLUMNS,
      );
  return new Map(
    ids.map((id) => {
      const { sums: s = toSums(undefined), exact = null } = read.get(id) ?? {};
      const figures = headline(s, hist.get(id)?.hist);
      if (exact) [figures.p50, figures.p95, figures.p99] = exact;
      return [id, figures];
    }),
  );
}

/** Headline figures plus uptime for the members `thresholds` names (each with its own), from their figures, in one snapshot. */
export async function withUptime(
  db: Snapshot,
  scope: Scope,
  figures: Map<string, Headline>,
  thresholds: { id: string; threshold: number }[],
  w: Window,
): Promise<Map<string, Summary>> {
  const bad = await badMinutes(db, scope, thresholds, w);
  const slots = minuteSlots(w);
  return new Map(
    thresholds.map(({ id }) => {
      const h = figures.get(id)!;
      return [id, { ...h, uptime: uptimeOf(h.total_requests, bad.get(id) ?? 0, slots) }];
    }),
  );
}

/** Headline figures plus uptime for each member of a scope, in one snapshot. */
export async function summaries(
  db: Snapshot,
  scope: Scope,
  thresholds: { id: string; threshold: number }[],
  w: Window,
): Promise<Map<string, Summary>> {
  const figures = await headlines(
    db,
    scope,
    thresholds.map((t) => t.id),
    w,
  );
  return withUptime(db, scope, figures, thresholds, w);
}

/** A feature's error-rate threshold, as uptime counts it. */
export const uptimeThreshold = (f: { id: string; error_rate_threshold: number }) => ({
  id: f.id,
  threshold: Number(f.error_rate_threshold),
});

/** Each feature's headline figures (no uptime) in one environment (null: all). */
export function featureHeadlines(db: Db, features: { id: string }[], range: RangeName, now: Date, environment: Environment | null = null) {
  return inSnapshot(
    db,
    (trx) =>
      headlines(
        trx,
        'feature',
        features.map((f) => f.id),
        windowOf(range, now),
      ),
    environment,
  );
}

/** Each feature's headline figures in one environment (null: all); uptime counts every environment (see Snapshot). */
export function featureSummaries(
  db: Db,
  features: { id: string; error_rate_threshold: number }[],
  range: RangeName,
  now: Date,
  environment: Environment | null = null,
) {
  return inSnapshot(db, (trx) => summaries(trx, 'feature', features.map(uptimeThreshold), windowOf(range, now)), environment);
}

export function modelSummaries(db: Db, modelIds: string[], range: RangeName, now: Date) {
  return inSnapshot(db, (trx) =>
    summaries(
      trx,
      'model',
      modelIds.map((id) => ({ id, threshold: DEFAULT_THRESHOLD })),
      windowOf(range, now),
    ),
  );
}

const monthStart = (at: Date, monthsBack = 0) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() - monthsBack, 1));

async function spendIn(db: Snapshot, scope: Scope, ids: string[], w: Window, read = costByScope): Promise<Map<string, number>> {
  const cost = await read(db, scope, ids, w);
  return new Map(ids.map((id) => [id, cost.get(id) ?? 0]));
}

/** Spend since the first day of the current month (UTC) for each member of a scope: from the month's rows (its raw rows are kept). */
const monthlySpend = (db: Snapshot, scope: Scope, ids: string[], now: Date) =>
  spendIn(db, scope, ids, { from: monthStart(now), to: new Date(now.getTime() + 1) }, costByScopeFromMonth);

/**
 * This month's spend so far and last month's over the same stretch (its first days up to the same
 * elapsed time, clipped to its end), per feature, in one snapshot: the overview's spend and trend.
 */
export function monthToDateSpend(db: Db, featureIds: string[], now: Date) {
  return inSnapshot(db, async (trx) => {
    const elapsed = now.getTime() + 1 - monthStart(now).getTime();
    const previousFrom = monthStart(now, 1);
    const previousTo = new Date(Math.min(previousFrom.getTime() + elapsed, monthStart(now).getTime()));
    return {
      current: await monthlySpend(trx, 'feature', featureIds, now),
      previous: await spendIn(trx, 'feature', featureIds, { from: previousFrom, to: previousTo }),
    };
  });
}

/** Provider health over the last 24 h (SPEC §4) with uptime, latency and this month's spend. */
export function providerSummaries(db: Db, providerIds: string[], now: Date) {
  return inSnapshot(db, async (trx) => {
    const day = await summaries(
      trx,
      'provider',
      providerIds.map((id) => ({ id, threshold: DEFAULT_THRESHOLD })),
      windowOf('24h', now),
    );
    const spend = await monthlySpend(trx, 'provider', providerIds, now);
    const failed = new Set<string>(
      await trx
        .db('health_checks')
        .whereIn('provider_id', providerIds)
        .whereIn('kind', ['probe', 'manual'])
        .where('status', 'error')
        .where('checked_at', '>=', new Date(now.getTime() - PROBE_CAP_MS))
        .distinct('provider_id')
        .pluck('provider_id'),
    );
    return new Map(
      providerIds.map((id) => {
        const s = day.get(id)!;
        return [
          id,
          { ...s, health_score: healthScore(s, failed.has(id)), probe_failed_recently: failed.has(id), monthly_spend: spend.get(id) ?? 0 },
        ];
      }),
    );
  });
}
