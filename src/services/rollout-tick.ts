import type { Db } from '../db/knex.ts';
import { armFigures } from '../metrics/rollout-arms.ts';
import { type RolloutDecision, raiseRolloutAlert } from './rollout-alerts.ts';
import { type GuardVerdict, judge } from './rollout-guard.ts';
import type { Rollout } from './rollouts.ts';

/** The guard looks at the minutes since the stage started, at most the last WINDOW_MINUTES. */
export const WINDOW_MINUTES = 15;
const MINUTE = 60_000;

const minutesBetween = (from: Date, to: Date) => Math.floor((to.getTime() - from.getTime()) / MINUTE);

/** The guard's window and verdict of a rollout as of now (the live page shows the same). */
export async function guardNow(db: Db, rollout: Rollout, now: Date) {
  const from = new Date(Math.max(rollout.stage_started_at.getTime(), now.getTime() - WINDOW_MINUTES * MINUTE));
  const arms = await armFigures(db, rollout, from, now);
  const stage = rollout.stages[rollout.stage_idx];
  return { from, arms, verdict: judge(rollout.guard, stage?.min_requests_per_arm ?? 0, arms) };
}

/**
 * One check of one running rollout, its row locked: a breach sustained for `for_minutes` rolls back
 * (or pauses); a healthy stage that served its minimum minutes and sample advances; a stage without
 * enough traffic holds, then pauses at max_wait_minutes when so set. Every action is a decision with
 * its numbers, audited, and raises the alert.
 */
export async function guardRollout(trx: Db, rollout: Rollout, now: Date): Promise<string | null> {
  // At 100% nobody is left on stable to compare with: the rollout waits for a person to complete it.
  if (rollout.percent_bp >= 10000) return null;
  const { verdict } = await guardNow(trx, rollout, now);
  const g = rollout.guard;
  const act = async (patch: Patch, d: Omit<RolloutDecision, 'automatic' | 'fromBp'>, regression = false) => {
    const [next] = await trx('rollouts')
      .where({ id: rollout.id })
      .update({ ...patch, updated_at: now })
      .returning('*');
    await raiseRolloutAlert(trx, next, { ...d, automatic: true, fromBp: rollout.percent_bp, evidence: { verdict } }, now, regression);
    return d.action;
  };
  if (verdict.breached) {
    const since = rollout.breach_since ?? now;
    if (!rollout.breach_since) await trx('rollouts').where({ id: rollout.id }).update({ breach_since: now });
    const held = minutesBetween(since, now);
    if (held < g.for_minutes) return null;
    const evidence = `${breachText(verdict)}, for ${held} min`;
    if (g.on_regression === 'rollback')
      return act(
        { status: 'rolled_back', percent_bp: 0, finished_at: now, finished_by: 'rollout guard' },
        { action: 'rollback', toBp: 0, explanation: `${evidence} → rolled back to 0%` },
        true,
      );
    return act(
      { status: 'paused' },
      { action: 'pause', toBp: rollout.percent_bp, explanation: `${evidence} → paused at ${rollout.percent_bp / 100}%` },
      true,
    );
  }
  if (rollout.breach_since) await trx('rollouts').where({ id: rollout.id }).update({ breach_since: null });
  const stage = rollout.stages[rollout.stage_idx];
  const age = minutesBetween(rollout.stage_started_at, now);
  if (!verdict.enough) return insufficient(rollout, now, age, verdict, act);
  const next = rollout.stages[rollout.stage_idx + 1];
  if (!next || age < stage.min_minutes) return null;
  return act(
    { percent_bp: next.percent_bp, stage_idx: rollout.stage_idx + 1, stage_started_at: now, insufficient_since: null },
    {
      action: 'advance',
      toBp: next.percent_bp,
      explanation: `healthy for ${age} min (${verdict.metrics.map((m) => m.text).join('; ')}) → advanced to ${next.percent_bp / 100}%`,
    },
  );
}

type Patch = Partial<Omit<Rollout, 'stages' | 'guard'>>;
type Act = (patch: Patch, d: Omit<RolloutDecision, 'automatic' | 'fromBp'>) => Promise<string>;

/** Too little traffic once the stage's minutes passed: hold (said once), then pause at max_wait_minutes when set so. */
async function insufficient(rollout: Rollout, now: Date, age: number, verdict: GuardVerdict, act: Act): Promise<string | null> {
  const g = rollout.guard;
  const stage = rollout.stages[rollout.stage_idx];
  const why = verdict.metrics[0].text;
  if (age >= g.max_wait_minutes && g.on_insufficient === 'pause')
    return act(
      { status: 'paused' },
      { action: 'pause', toBp: rollout.percent_bp, explanation: `${why} after ${age} min → paused at ${rollout.percent_bp / 100}%` },
    );
  if (age < stage.min_minutes || rollout.insufficient_since) return null;
  return act(
    { insufficient_since: now },
    { action: 'hold', toBp: rollout.percent_bp, explanation: `${why} after ${age} min → holding at ${rollout.percent_bp / 100}%` },
  );
}

const breachText = (v: GuardVerdict) =>
  v.metrics
    .filter((m) => m.state === 'breached')
    .map((m) => m.text)
    .join('; ');
