import type { Db } from '../src/db/knex.ts';
import { minutesIn, previousWindow, RANGES, type RangeName, windowOf } from '../src/metrics/ranges.ts';

/**
 * The two designs the rollups are measured against, computing the same dashboard figures:
 * SQL straight over the raw rows, and the reference plan's fetch-every-row-and-group-in-JS.
 */

export async function rawSqlMetrics(db: Db, featureId: string, range: RangeName, now: Date, threshold: number) {
  const w = windowOf(range, now);
  const prev = previousWindow(range, now);
  const where = { id: featureId, from: w.from.toISOString(), to: w.to.toISOString() };
  const base = `FROM ai_usage_logs WHERE feature_id = :id AND created_at >= :from AND created_at < :to`;
  return db.transaction(
    async (trx) => {
      // Raw scans are where parallel workers pay: give this design PostgreSQL's default back.
      await trx.raw('SET LOCAL max_parallel_workers_per_gather = 2');
      return {
        totals: (
          await trx.raw(
            `SELECT count(*) AS n, count(*) FILTER (WHERE status = 'success') AS ok, avg(response_time_ms) AS mean,
          percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS p, sum(cost_usd) AS cost,
          sum(input_cost_usd) AS input_cost, count(DISTINCT end_user_id) AS users ${base}`,
            where,
          )
        ).rows[0],
        buckets: (
          await trx.raw(
            `SELECT date_bin(:bucket::interval, created_at, 'epoch'::timestamptz) AS b, count(*) AS n,
          count(*) FILTER (WHERE status = 'success') AS ok, avg(response_time_ms) AS mean,
          percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95, sum(cost_usd) AS cost ${base} GROUP BY 1`,
            { ...where, bucket: RANGES[range].bucket },
          )
        ).rows,
        badMinutes: (
          await trx.raw(
            `SELECT count(*) AS bad FROM (SELECT date_trunc('minute', created_at) AS m, count(*) AS r,
          count(*) FILTER (WHERE status <> 'success') AS f ${base} GROUP BY 1) x WHERE f * 100 >= :threshold * r`,
            { ...where, threshold },
          )
        ).rows[0],
        byModel: (await trx.raw(`SELECT model_id, sum(cost_usd) AS cost, count(*) AS n ${base} GROUP BY 1`, where)).rows,
        peak: (
          await trx.raw(
            `SELECT extract(hour FROM created_at AT TIME ZONE 'UTC') AS h, count(*) AS n ${base} GROUP BY 1 ORDER BY 2 DESC LIMIT 1`,
            where,
          )
        ).rows[0],
        previousCost: (
          await trx.raw(`SELECT sum(cost_usd) AS cost ${base}`, { ...where, from: prev.from.toISOString(), to: prev.to.toISOString() })
        ).rows[0],
      };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

interface LogRow {
  status: string;
  response_time_ms: number;
  cost_usd: number;
  created_at: Date;
  end_user_id: string | null;
}

/** As the plan does it: select the rows, then filter and reduce them per interval in JavaScript. */
export async function referenceJsMetrics(db: Db, featureId: string, range: RangeName, now: Date) {
  const w = windowOf(range, now);
  const prev = previousWindow(range, now);
  const logs: LogRow[] = await db('ai_usage_logs')
    .where('feature_id', featureId)
    .where('created_at', '>=', w.from)
    .orderBy('created_at')
    .select('status', 'response_time_ms', 'cost_usd', 'created_at', 'end_user_id');
  const intervals: Date[] = [];
  for (let t = w.from.getTime(); t <= now.getTime(); t += RANGES[range].bucketMs) intervals.push(new Date(t));
  const historical = intervals.map((start) => {
    const end = start.getTime() + RANGES[range].bucketMs;
    const group = logs.filter((l) => l.created_at.getTime() >= start.getTime() && l.created_at.getTime() < end);
    const ok = group.filter((l) => l.status === 'success').length;
    return {
      timestamp: start.toISOString(),
      response_time: group.length ? group.reduce((a, l) => a + l.response_time_ms, 0) / group.length : 0,
      error_rate: group.length ? ((group.length - ok) / group.length) * 100 : 0,
      throughput: group.length,
      cost: group.reduce((a, l) => a + Number(l.cost_usd), 0),
    };
  });
  const hourly = new Map<number, number>();
  for (const l of logs) hourly.set(l.created_at.getUTCHours(), (hourly.get(l.created_at.getUTCHours()) ?? 0) + 1);
  const prevLogs: { cost_usd: number }[] = await db('ai_usage_logs')
    .where('feature_id', featureId)
    .where('created_at', '>=', prev.from)
    .where('created_at', '<', prev.to)
    .select('cost_usd');
  return {
    historical,
    total: logs.length,
    users: new Set(logs.map((l) => l.end_user_id).filter(Boolean)).size,
    perMinute: logs.length / minutesIn(range),
    previousCost: prevLogs.reduce((a, l) => a + Number(l.cost_usd), 0),
    peak: [...hourly.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0,
  };
}
