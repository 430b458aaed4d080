import type { Db } from '../../../src/db/knex.ts';
import { between, headlineOf, type Raw, rawRows, uptimeOf } from '../../metrics/brute-force.ts';
import { DAY, MINUTE } from '../../setup/usage-factory.ts';

// A provider's or a model's figures from SPEC §4 alone, over the raw ai_usage_logs rows: what the
// catalogue pages are checked against.

export const monthStartOf = (now: number) => Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);

export interface Brute {
  requests: number;
  successRate: number | null;
  meanMs: number | null;
  uptime: number | null;
  cost24h: number;
  monthly: number;
  allTime: number;
  health: number | null;
  latencyScore: number | null;
  capped: boolean;
}

/** The performance score of SPEC §4 from brute-force figures: the mean of reliability, speed and accuracy, each clamped. */
export const performance = (b: Brute) => {
  const clamp = (x: number) => Math.min(100, Math.max(0, x));
  return (clamp((b.uptime! / 99) * 100) + clamp(((2000 - b.meanMs!) / 2000) * 100) + clamp(b.successRate!)) / 3;
};

/** 24 h figures, uptime by minute (5 % threshold), health (capped after a failed check in 15 minutes), monthly spend. */
export async function brute(db: Db, column: 'provider_id' | 'model_id', id: string, now: number): Promise<Brute> {
  const rows = await rawRows(db, column, id);
  const day = between(rows, now - DAY, now);
  const h = headlineOf(day);
  const uptime = uptimeOf(rows, now - DAY, now, 5);
  const latencyScore = h.response_time === null ? null : Math.min(100, Math.max(0, ((5000 - h.response_time) / 4500) * 100));
  const cost = (list: Raw[]) => list.reduce((a, r) => a + r.cost, 0) / 1e8;
  let capped = false;
  if (column === 'provider_id') {
    const failed = await db('health_checks')
      .where({ provider_id: id, status: 'error' })
      .whereIn('kind', ['probe', 'manual'])
      .where('checked_at', '>=', new Date(now - 15 * MINUTE))
      .first('id');
    capped = failed !== undefined;
  }
  const raw = h.success_rate === null ? null : 0.5 * h.success_rate + 0.3 * uptime! + 0.2 * latencyScore!;
  return {
    requests: h.total_requests,
    successRate: h.success_rate,
    meanMs: h.response_time,
    uptime,
    latencyScore,
    capped,
    cost24h: cost(day),
    monthly: cost(rows.filter((r) => r.t >= monthStartOf(now))),
    allTime: cost(rows),
    // A failed probe without traffic scores the cap: never "no data" left out of an average.
    health: raw === null ? (capped ? 50 : null) : capped ? Math.min(50, raw) : raw,
  };
}
