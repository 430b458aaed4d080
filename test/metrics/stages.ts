/** The five stages of a randomized data set (raw, rolled up, late, rolled up again, rebuilt), each checked against brute force. */
import { expect } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import type { FeatureRow } from '../../src/db/queries/features.ts';
import { ENVIRONMENTS } from '../../src/domain.ts';
import { featureMetrics } from '../../src/metrics/feature-metrics.ts';
import { rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { featureSummaries, modelSummaries, providerSummaries } from '../../src/metrics/summaries.ts';
import { makeFeature } from '../setup/factories.ts';
import {
  insertUsage,
  int,
  MINUTE,
  type ModelRef,
  modelsByName,
  mulberry32,
  type UsageEvent,
  withUsageDatabase,
} from '../setup/usage-factory.ts';
import {
  between,
  bruteFeature,
  bruteSummary,
  bruteVersions,
  differences,
  exactOf,
  expectedUsers,
  inBracket,
  RANGE_MS,
  RANGES,
  type Raw,
  rawRows,
} from './brute-force.ts';
import { type DatasetSpec, generateEvents } from './datasets.ts';

const byModelId = (a: { model_id: string }, b: { model_id: string }) => a.model_id.localeCompare(b.model_id);
type Percentiles = Map<string, (number | null)[]>;

/** Every figure of every range, for the feature and for the models and providers it used, against brute force. */
async function checkAll(
  db: Db,
  spec: DatasetSpec,
  featureId: string,
  models: ModelRef[],
  names: Map<string, string>,
  stage: string,
): Promise<Percentiles> {
  const now = Date.parse(spec.now);
  const feature: FeatureRow = (await db('ai_features').where({ id: featureId }).first())!;
  const threshold = spec.threshold ?? 5;
  const rows = await rawRows(db, 'feature_id', featureId);
  const problems: string[] = [];
  const histogramPs: Percentiles = new Map();
  const checkHistogram = (key: string, window: Raw[], ps: (number | null)[]) => {
    histogramPs.set(key, ps);
    [0.5, 0.95, 0.99].forEach((q, i) => {
      const p = ps[i];
      if (!window.length) return void (p !== null && problems.push(`${key} p${q}: expected null, got ${p}`));
      if (
        p === null ||
        !inBracket(
          p,
          window.map((r) => r.ms),
          q,
        )
      )
        problems.push(`${key} p${q}: ${p} is not in the buckets around the exact rank`);
    });
  };

  for (const range of RANGES) {
    const label = `[${stage}] ${range}`;
    const actual = await featureMetrics(db, feature, range, new Date(now), spec.timeZone);
    const expected = bruteFeature(rows, range, now, spec.timeZone, threshold, names);
    const sorted = { ...actual, costs: { ...actual.costs, cost_breakdown: [...actual.costs.cost_breakdown].sort(byModelId) } };
    differences(
      sorted,
      { ...expected, costs: { ...expected.costs, cost_breakdown: expected.costs.cost_breakdown.sort(byModelId) } },
      label,
      problems,
    );
    const amounts = actual.costs.cost_breakdown.map((c) => c.amount);
    if (amounts.some((a, i) => i > 0 && a > amounts[i - 1])) problems.push(`${label} cost_breakdown not sorted by amount: ${amounts}`);
    const pointSum = actual.historical.data.reduce((a, p) => a + p.requests, 0);
    if (pointSum !== actual.usage.total_requests)
      problems.push(`${label} points sum to ${pointSum}, total is ${actual.usage.total_requests}`);
    if ((actual.performance === null) !== (expected.usage.total_requests === 0))
      problems.push(`${label} performance ${JSON.stringify(actual.performance)}`);

    // Per environment: every figure from that environment's rows alone, except unique users, which
    // have no environment dimension and count every environment.
    for (const environment of ENVIRONMENTS) {
      const envRows = rows.filter((r) => r.environment === environment);
      const inEnv = await featureMetrics(db, feature, range, new Date(now), spec.timeZone, environment);
      const all = bruteFeature(rows, range, now, spec.timeZone, threshold, names);
      const own = bruteFeature(envRows, range, now, spec.timeZone, threshold, names);
      const users = {
        ...own.usage,
        ...expectedUsers(exactOf(all.usage.unique_users), own.usage.total_requests),
      };
      differences(
        { ...inEnv, costs: { ...inEnv.costs, cost_breakdown: [...inEnv.costs.cost_breakdown].sort(byModelId) } },
        {
          ...own,
          realtime: own.realtime,
          usage: users,
          costs: { ...own.costs, cost_breakdown: own.costs.cost_breakdown.sort(byModelId) },
        },
        `${label} ${environment}`,
        problems,
      );
      const envSummary = (await featureSummaries(db, [feature], range, new Date(now), environment)).get(featureId)!;
      differences(envSummary, bruteSummary(envRows, range, now, threshold), `${label} ${environment} featureSummaries`, problems);
    }

    // Split by prompt version, in all environments and in each: every version's figures and series
    // from its rows alone, the versions adding up to the whole, the rest as unsplit.
    for (const environment of [null, ...ENVIRONMENTS]) {
      const envRows = environment ? rows.filter((r) => r.environment === environment) : rows;
      const where = `${label} ${environment ?? 'all'} split by prompt version`;
      const whole = await featureMetrics(db, feature, range, new Date(now), spec.timeZone, environment);
      const { by_prompt_version: split, ...rest } = await featureMetrics(
        db,
        feature,
        range,
        new Date(now),
        spec.timeZone,
        environment,
        'prompt_version',
      );
      differences(rest, whole, where, problems);
      differences(split, bruteVersions(envRows, range, now, spec.timeZone, names), where, problems);
      whole.historical.data.forEach((p, i) => {
        const sum = (split ?? []).reduce((n, v) => n + v.data[i].requests, 0);
        if (sum !== p.requests) problems.push(`${where} bucket ${i}: versions sum to ${sum}, the whole is ${p.requests}`);
      });
    }

    const from = now - RANGE_MS[range];
    const summary = (await featureSummaries(db, [feature], range, new Date(now))).get(featureId)!;
    differences(summary, bruteSummary(rows, range, now, threshold), `${label} featureSummaries`, problems);
    checkHistogram(`feature ${range}`, between(rows, from, now), [summary.p50, summary.p95, summary.p99]);

    const byModel = await modelSummaries(
      db,
      models.map((m) => m.id),
      range,
      new Date(now),
    );
    for (const m of models) {
      const mRows = await rawRows(db, 'model_id', m.id);
      const s = byModel.get(m.id)!;
      differences(s, bruteSummary(mRows, range, now, 5), `${label} model ${m.name}`, problems);
      checkHistogram(`model ${m.name} ${range}`, between(mRows, from, now), [s.p50, s.p95, s.p99]);
    }
  }

  const providerIds = [...new Set(models.map((m) => m.provider_id))];
  const providers = await providerSummaries(db, providerIds, new Date(now));
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  for (const id of providerIds) {
    const pRows = await rawRows(db, 'provider_id', id);
    const day = bruteSummary(pRows, '24h', now, 5);
    const latencyScore = day.response_time === null ? 0 : Math.min(100, Math.max(0, ((5000 - day.response_time) / 4500) * 100));
    const health = day.success_rate === null ? null : 0.5 * day.success_rate + 0.3 * day.uptime! + 0.2 * latencyScore;
    const monthly = between(pRows, monthStart, now).reduce((a, r) => a + r.cost, 0) / 1e8;
    differences(
      providers.get(id),
      { ...day, health_score: health, probe_failed_recently: false, monthly_spend: monthly },
      `[${stage}] provider ${id}`,
      problems,
    );
  }
  expect(problems).toEqual([]);
  return histogramPs;
}

/** Late events (hours to days old), events in minutes already rolled up, and fresh ones up to now. */
function moreEvents(rng: () => number, spec: DatasetSpec, featureId: string, models: ModelRef[], earlier: UsageEvent[]): UsageEvent[] {
  const now = Date.parse(spec.now);
  const late = generateEvents(rng, spec, featureId, models, now, Math.max(20, Math.round(spec.events / 4)), true);
  const sameMinute = earlier.slice(0, 30).map((e) => ({
    ...e,
    event_id: undefined,
    created_at: new Date(Math.min(now, Math.floor(e.created_at.getTime() / MINUTE) * MINUTE + int(rng, 0, MINUTE - 1))),
  }));
  const fresh = spec.quietLastHour
    ? []
    : generateEvents(rng, spec, featureId, models, now, 10, true).map((e, i) => ({
        ...e,
        created_at: new Date(now - (i === 0 ? 0 : int(rng, 0, 90_000))),
      }));
  return [...late, ...sameMinute, ...fresh];
}

const samePercentiles = (a: Percentiles, b: Percentiles) => expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));

/**
 * Reads the data set raw, rolls it up, tops it up with late and fresh events, rolls up again and
 * rebuilds: at every step every figure must equal brute force, and histogram percentiles must not
 * move while the data does not.
 */
export async function runStages(spec: DatasetSpec) {
  await withUsageDatabase(async (db) => {
    const rng = mulberry32(spec.seed);
    const now = Date.parse(spec.now);
    const catalogue = await modelsByName(db);
    const names = new Map([...catalogue.values()].map((m) => [m.id, m.display_name]));
    const models = spec.models.map((n) => catalogue.get(n)!);
    const feature = await makeFeature(db, spec.threshold === undefined ? {} : { error_rate_threshold: spec.threshold });
    const neighbour = await makeFeature(db); // shares the models, so model and provider scopes hold more than this feature
    const events = generateEvents(rng, spec, feature.id, models, now, spec.events);
    await insertUsage(db, events);
    await insertUsage(db, generateEvents(rng, { ...spec, allErrors: false, failure: 0.05 }, neighbour.id, models, now, 150));
    const check = (stage: string) => checkAll(db, spec, feature.id, models, names, stage);

    const raw = await check('a: nothing rolled up');
    expect((await runRollup({ db })).ran).toBe(true);
    samePercentiles(raw, await check('b: rolled up'));

    await insertUsage(db, moreEvents(rng, spec, feature.id, models, events));
    const topped = await check('c: late and fresh events not rolled up yet');
    await runRollup({ db });
    samePercentiles(topped, await check('d: rolled up again'));
    await rebuildRollups(db);
    samePercentiles(topped, await check('e: rebuilt from raw rows'));
  });
}

export const STORY =
  'when the data set "$name" is read raw, rolled up, topped up with late events, rolled up again and rebuilt, then every figure equals brute force at every step';
