import type { Db } from '../db/knex.ts';
import { inSnapshot, type Snapshot, sumsByScope } from '../metrics/queries.ts';

// Budgets (issue 17, SPEC §10.3–10.4): month-to-date spend (UTC, every environment, as the runtime
// config counts it), the daily rate of the last 7 complete UTC days (fewer when the feature is
// younger: the mean of the days it has, "low confidence" under 3), the projected month-end spend and
// the day the budget runs out at that rate.

const DAY = 86_400_000;
const LOW_CONFIDENCE_UNDER_DAYS = 3;
export const RATE_DAYS = 7;

const monthStart = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
const nextMonthStart = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
const dayStart = (at: Date) => new Date(Math.floor(at.getTime() / DAY) * DAY);

export interface BudgetFigures {
  budget: number;
  /** Spend since the 1st, 00:00 UTC, up to now. */
  mtd: number;
  used_pct: number;
  /** Mean daily spend over the complete days counted (null without one). */
  rate_per_day: number | null;
  rate_days: number;
  low_confidence: boolean;
  /** mtd + rate × what is left of the month (today's remaining part included); null without a rate. */
  projected_eom: number | null;
  /** When the budget runs out at the rate; null without a rate, or when it already has. */
  exhaustion_at: Date | null;
  month: string;
  /** The last day of the month (for "projected $612 by 30 Nov"). */
  month_last_day: Date;
}

/**
 * The day of each feature's first recorded usage (the day rollup, which outlives raw rows, or the raw
 * rows): two index probes per feature.
 */
async function firstDays(s: Snapshot, ids: string[]): Promise<Map<string, Date>> {
  const { rows } = await s.db.raw(
    `SELECT f.id, date_trunc('day', least((SELECT min(bucket) FROM usage_rollup_day r WHERE r.feature_id = f.id),
                                          (SELECT min(created_at) FROM ai_usage_logs l WHERE l.feature_id = f.id))) AS first_day
     FROM unnest(:ids::uuid[]) AS f (id)`,
    { ids: `{${ids.join(',')}}` },
  );
  return new Map((rows as { id: string; first_day: Date | null }[]).filter((r) => r.first_day).map((r) => [r.id, r.first_day!]));
}

/** How many of the last RATE_DAYS complete UTC days the feature has been recorded through (the younger, the fewer). */
const daysOfHistory = (first: Date | undefined, today: Date) =>
  first ? Math.max(0, Math.min(RATE_DAYS, Math.round((today.getTime() - first.getTime()) / DAY))) : 0;

export interface Pace {
  mtd: number;
  /** Requests this month. */
  requests: number;
  rate_per_day: number | null;
  rate_days: number;
  projected_eom: number | null;
}

/** Each feature's spend this month, its daily rate and its projected month-end spend, as of `now`, in the caller's snapshot. */
export async function spendPace(s: Snapshot, ids: string[], now: Date): Promise<Map<string, Pace>> {
  const today = dayStart(now);
  const mtd = await sumsByScope(s, 'feature', ids, { from: monthStart(now), to: now });
  const week = await sumsByScope(s, 'feature', ids, { from: new Date(today.getTime() - RATE_DAYS * DAY), to: today });
  const first = ids.length ? await firstDays(s, ids) : new Map<string, Date>();
  const left = (nextMonthStart(now).getTime() - now.getTime()) / DAY;
  return new Map(
    ids.map((id) => {
      const spent = mtd.get(id)?.cost_usd ?? 0;
      const days = daysOfHistory(first.get(id), today);
      const rate = days ? (week.get(id)?.cost_usd ?? 0) / days : null;
      return [
        id,
        {
          mtd: spent,
          requests: mtd.get(id)?.requests ?? 0,
          rate_per_day: rate,
          rate_days: days,
          projected_eom: rate === null ? null : spent + rate * left,
        },
      ];
    }),
  );
}

/** The figures of each feature with a budget, as of `now`, in the caller's snapshot. */
export async function budgetFiguresIn(s: Snapshot, features: { id: string; monthly_budget_usd: number | null }[], now: Date) {
  const budgeted = features.filter((f) => f.monthly_budget_usd !== null);
  const pace = await spendPace(
    s,
    budgeted.map((f) => f.id),
    now,
  );
  const out = new Map<string, BudgetFigures>();
  for (const f of budgeted) {
    const budget = Number(f.monthly_budget_usd);
    const p = pace.get(f.id)!;
    const rate = p.rate_per_day;
    const exhaustion = rate && rate > 0 && p.mtd < budget ? new Date(now.getTime() + ((budget - p.mtd) / rate) * DAY) : null;
    out.set(f.id, {
      ...p,
      budget,
      used_pct: budget > 0 ? (p.mtd / budget) * 100 : p.mtd > 0 ? 100 : 0,
      low_confidence: p.rate_days < LOW_CONFIDENCE_UNDER_DAYS,
      exhaustion_at: exhaustion,
      month: monthStart(now).toISOString().slice(0, 10),
      month_last_day: new Date(nextMonthStart(now).getTime() - DAY),
    });
  }
  return out;
}

/** The figures of each feature with a budget, as of `now`, in a snapshot of their own. */
export const budgetFigures = (db: Db, features: { id: string; monthly_budget_usd: number | null }[], now: Date) =>
  inSnapshot(db, (s) => budgetFiguresIn(s, features, now));

const money = (n: number) =>
  `$${n.toLocaleString('en-US', { minimumFractionDigits: Number.isInteger(n) ? 0 : 2, maximumFractionDigits: 2 })}`;
const wholeMoney = (n: number) => `$${Math.round(n).toLocaleString('en-US')}`;
const dayMonth = (d: Date) => `${d.getUTCDate()} ${d.toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' })}`;

export type BudgetMark = '50' | '80' | '100' | 'projected';

/** The marks a feature's figures have reached: 50, 80 and 100% used, and projected over the budget. */
export function marksReached(b: BudgetFigures): BudgetMark[] {
  const marks: BudgetMark[] = (['50', '80', '100'] as const).filter((m) => b.used_pct >= Number(m));
  if (b.projected_eom !== null && b.projected_eom > b.budget) marks.push('projected');
  return marks;
}

/** A mark's message, worded so that it cannot be read two ways: what is used, of what, and where it is heading. */
export function markMessage(mark: BudgetMark, b: BudgetFigures): string {
  const used = `${Math.floor(b.used_pct)}% used (${money(b.mtd)} of ${money(b.budget)})`;
  const projection =
    b.projected_eom === null
      ? 'no projection yet (no complete day of spend)'
      : `projected ${wholeMoney(b.projected_eom)} by ${dayMonth(b.month_last_day)}`;
  const runsOut = b.exhaustion_at ? `; at ${money(b.rate_per_day!)} a day the budget runs out on ${dayMonth(b.exhaustion_at)}` : '';
  const confidence = b.low_confidence ? ' (low confidence: under 3 days of history)' : '';
  if (mark === 'projected') return `Projected over budget: ${projection}${confidence}; ${used}${runsOut}`;
  return `${used} — ${projection}${confidence}${runsOut}`;
}
