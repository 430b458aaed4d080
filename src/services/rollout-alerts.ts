import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import type { AlertSeverity } from '../domain.ts';
import { url } from '../http/urls.ts';
import { queueNotices, silences } from './alert-notices.ts';
import { type Actor, recordAudit } from './audit.ts';

// The rollout guard through alerting (issue 18). Each feature has one system rule of kind
// `rollout_regression` (is_default: it cannot be deleted nor made into another kind; an admin sets its
// channels or disables it), made when its first rollout starts. A roll back or pause for a regression
// fires its alert, with the guard's words in the event and the notice; the other automatic actions
// (advance, hold, pause for too little traffic) are `rollout` events in its history and info notices.
// Nothing evaluates the alert per minute: it resolves when a person deals with it (acknowledges it,
// resumes, rolls back, aborts or completes the rollout, or starts a new rollout of the feature).

export interface RolloutDecision {
  action: 'advance' | 'hold' | 'pause' | 'resume' | 'rollback' | 'percent' | 'complete' | 'abort' | 'start';
  automatic: boolean;
  fromBp: number;
  toBp: number;
  explanation: string;
  evidence?: Record<string, unknown>;
}

type Rollout = Row<'rollouts'>;
type Rule = Row<'alert_rules'>;
const GUARD: Actor = { kind: 'system', label: 'rollout guard' };

/** Writes a line of the rollout's decision log and its audit row, in the caller's transaction. */
export async function recordRolloutDecision(trx: Db, actor: Actor, rollout: Rollout, d: RolloutDecision): Promise<void> {
  await trx('rollout_decisions').insert({
    rollout_id: rollout.id,
    action: d.action,
    automatic: d.automatic,
    from_bp: d.fromBp,
    to_bp: d.toBp,
    explanation: d.explanation,
    evidence: JSON.stringify(d.evidence ?? {}),
    decided_by: actor.label,
  });
  await recordAudit(trx, actor, {
    action: `rollout.${d.action}`,
    entityType: 'feature',
    entityId: rollout.feature_id,
    before: { rollout_id: rollout.id, percent_bp: d.fromBp },
    after: { rollout_id: rollout.id, percent_bp: d.toBp, environment: rollout.environment, explanation: d.explanation },
  });
}

/** The feature's rollout_regression rule, made on first use (critical; no channels until an admin sets them). */
export async function rolloutRule(trx: Db, featureId: string): Promise<Rule> {
  await trx.raw(
    `INSERT INTO alert_rules (feature_id, kind, threshold, window_min, for_min, severity, is_default, created_by)
     VALUES (?, 'rollout_regression', 0, 1, 1, 'critical', true, 'system')
     ON CONFLICT (feature_id, kind) WHERE is_default DO NOTHING`,
    [featureId],
  );
  return (await trx('alert_rules').where({ feature_id: featureId, kind: 'rollout_regression', is_default: true }).first())!;
}

/** Queues a notice of an event to the rule's channels, silenced when a silence covers this environment and severity. */
async function tell(
  trx: Db,
  o: {
    rule: Rule;
    alert: Row<'alerts'>;
    event: NoticeEvent;
    notice: string;
    rollout: Rollout;
    message: string;
    severity: AlertSeverity;
    at: Date;
  },
) {
  const rule = { ...o.rule, severity: o.severity, environment: o.rollout.environment };
  const active = await trx('silences').where('starts_at', '<=', o.at).where('ends_at', '>', o.at);
  const feature = (await trx('ai_features').where({ id: o.rollout.feature_id }).first('id', 'name'))!;
  const extra = {
    message: o.message,
    rollout: { id: o.rollout.id, environment: o.rollout.environment, status: o.rollout.status, percent: o.rollout.percent_bp / 100 },
    links: { alert: url.alert(o.alert.id), rollout: url.rollout(o.rollout.id) },
  };
  const silenced = active.some((s) => silences(s, rule, feature.id, o.at));
  await queueNotices(trx, [{ alert: o.alert, rule, feature, event: o.event, notice: o.notice, at: o.at, silenced, extra }]);
}

type NoticeEvent = Pick<Row<'alert_events'>, 'id' | 'kind' | 'from_state' | 'to_state' | 'value' | 'sample_n'>;
const EVENT_COLUMNS = ['id', 'kind', 'from_state', 'to_state', 'value', 'sample_n'] as const;

/** The feature's alert of its rollout rule, made when new, locked. */
async function lockedAlert(trx: Db, rule: Rule, featureId: string, at: Date) {
  await trx('alerts')
    .insert({ rule_id: rule.id, feature_id: featureId, since: at, evaluated_at: at })
    .onConflict(['rule_id', 'feature_id'])
    .ignore();
  return (await trx('alerts').where({ rule_id: rule.id, feature_id: featureId }).forUpdate().first())!;
}

/**
 * An automatic action of the guard: its decision (log + audit), then through alerting — a regression
 * (roll back, or pause for a breach) fires the feature's rollout_regression alert; any other action is
 * a `rollout` event of that alert with an info notice. A disabled rule, or one kept to another
 * environment, leaves the decision log and the audit only.
 */
export async function raiseRolloutAlert(trx: Db, rollout: Rollout, d: RolloutDecision, at: Date, regression: boolean): Promise<void> {
  await recordRolloutDecision(trx, GUARD, rollout, d);
  const rule = await rolloutRule(trx, rollout.feature_id);
  if (!rule.enabled || (rule.environment && rule.environment !== rollout.environment)) return;
  const alert = await lockedAlert(trx, rule, rollout.feature_id, at);
  const fires = regression && alert.state !== 'firing';
  const [event] = await trx('alert_events')
    .insert({
      alert_id: alert.id,
      kind: fires ? 'transition' : 'rollout',
      from_state: alert.state,
      to_state: regression ? 'firing' : alert.state,
      note: d.explanation,
      actor: GUARD.label,
      at,
    })
    .returning(EVENT_COLUMNS);
  if (fires)
    await trx('alerts').where({ id: alert.id }).update({
      state: 'firing',
      since: at,
      started_at: at,
      evaluated_at: at,
      last_notified_at: at,
      acked_at: null,
      acked_by: null,
      ack_note: null,
    });
  const notice = regression ? 'firing' : 'rollout';
  await tell(trx, {
    rule,
    alert: { ...alert, started_at: fires ? at : alert.started_at },
    event: event!,
    notice,
    rollout,
    message: d.explanation,
    severity: regression ? rule.severity : 'info',
    at,
  });
}

/** Resolves the feature's firing rollout_regression alert because a person dealt with it (`why`), with a `resolved` notice. */
export async function resolveRolloutAlert(trx: Db, actor: Actor, rollout: Rollout, why: string, at: Date): Promise<void> {
  const rule = await trx('alert_rules').where({ feature_id: rollout.feature_id, kind: 'rollout_regression', is_default: true }).first();
  if (!rule) return;
  const alert = await trx('alerts').where({ rule_id: rule.id, feature_id: rollout.feature_id }).whereNot('state', 'ok').forUpdate().first();
  if (!alert) return;
  const [event] = await trx('alert_events')
    .insert({ alert_id: alert.id, kind: 'transition', from_state: alert.state, to_state: 'ok', note: why, actor: actor.label, at })
    .returning(EVENT_COLUMNS);
  await trx('alerts')
    .where({ id: alert.id })
    .update({ state: 'ok', since: at, evaluated_at: at, owes_notice: false, acked_at: null, acked_by: null, ack_note: null });
  if (rule.enabled) await tell(trx, { rule, alert, event: event!, notice: 'resolved', rollout, message: why, severity: rule.severity, at });
}

/** Acknowledging a rollout_regression alert resolves it: the guard already acted, nothing is left to recover. */
export async function resolveAcknowledged(trx: Db, actor: Actor, alert: Row<'alerts'>, at: Date): Promise<void> {
  const rule = await trx('alert_rules').where({ id: alert.rule_id }).first('kind');
  if (rule?.kind !== 'rollout_regression') return;
  const rollout = await trx('rollouts').where({ feature_id: alert.feature_id }).orderBy('started_at', 'desc').first();
  if (rollout) await resolveRolloutAlert(trx, actor, rollout, 'acknowledged', at);
}
