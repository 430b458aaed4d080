import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { findFeature } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import { ALERT_KINDS, ALERT_SEVERITIES, ENVIRONMENTS } from '../domain.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { blankAsMissing, CONTROL_MESSAGE, fieldErrors, withoutControlCharacters } from '../http/validation.ts';
import { type Actor, recordAudit } from './audit.ts';
import { resolveAcknowledged } from './rollout-alerts.ts';

// Alerts as people see and handle them: the open ones, an alert's timeline, acknowledgements and silences.

const ALERT_COLUMNS = [
  'alerts.*',
  'alert_rules.kind',
  'alert_rules.environment',
  'alert_rules.severity',
  'alert_rules.threshold',
  'alert_rules.window_min',
  'ai_features.name as feature_name',
  'ai_features.display_name as feature_display_name',
] as const;

export type AlertView = Row<'alerts'> &
  Pick<Row<'alert_rules'>, 'kind' | 'environment' | 'severity' | 'threshold' | 'window_min'> & {
    feature_name: string;
    feature_display_name: string;
  };

const joined = (db: Db) =>
  db('alerts')
    .join('alert_rules', 'alert_rules.id', 'alerts.rule_id')
    .join('ai_features', 'ai_features.id', 'alerts.feature_id')
    .select(...ALERT_COLUMNS);

/** Alerts not ok (pending, firing, recovering), firing first, then the newest; optionally one state or one feature. */
export async function openAlerts(db: Db, filter: { state?: string; featureId?: string } = {}): Promise<AlertView[]> {
  const q = joined(db).whereNot('alerts.state', 'ok').whereNull('ai_features.archived_at');
  if (filter.state) q.where('alerts.state', filter.state);
  if (filter.featureId) q.where('alerts.feature_id', filter.featureId);
  return q.orderByRaw("alerts.state = 'firing' DESC, alerts.since DESC").limit(500) as Promise<AlertView[]>;
}

/** Firing alerts of features in use (an archived feature's alerts are history). */
const firing = (db: Db) =>
  db('alerts')
    .join('ai_features', 'ai_features.id', 'alerts.feature_id')
    .where('alerts.state', 'firing')
    .whereNull('ai_features.archived_at');

/** How many alerts are firing (the navigation's count). */
export async function firingCount(db: Db): Promise<number> {
  return Number((await firing(db).count({ n: '*' }).first())?.n ?? 0);
}

/** Firing alerts per feature (the feature cards' note). */
export async function firingByFeature(db: Db): Promise<Map<string, number>> {
  const rows = await firing(db).groupBy('alerts.feature_id').select('alerts.feature_id').count({ n: '*' });
  return new Map(rows.map((r) => [String(r.feature_id), Number(r.n)]));
}

export async function findAlert(db: Db, id: string): Promise<AlertView | undefined> {
  return (await joined(db).where('alerts.id', id).first()) as AlertView | undefined;
}

export type HistoryRow = Row<'alert_events'> & { rule_kind: Row<'alert_rules'>['kind']; feature_name: string };

/** The newest events, of one alert or of all (or only resolutions: to ok from firing or recovering), with the alert's feature and kind. */
export async function alertHistory(db: Db, filter: { alertId?: string; resolved?: boolean } = {}, limit = 100): Promise<HistoryRow[]> {
  const q = db('alert_events')
    .join('alerts', 'alerts.id', 'alert_events.alert_id')
    .join('alert_rules', 'alert_rules.id', 'alerts.rule_id')
    .join('ai_features', 'ai_features.id', 'alerts.feature_id')
    .select('alert_events.*', 'alert_rules.kind as rule_kind', 'ai_features.name as feature_name')
    .orderBy('alert_events.id', 'desc')
    .limit(limit);
  if (filter.alertId) q.where('alert_events.alert_id', filter.alertId);
  if (filter.resolved)
    q.where('alert_events.kind', 'transition')
      .where('alert_events.to_state', 'ok')
      .whereIn('alert_events.from_state', ['firing', 'recovering']);
  return q as unknown as Promise<HistoryRow[]>;
}

const noteField = z
  .string({ message: 'must be text' })
  .trim()
  .max(500, 'must be at most 500 characters')
  .refine(withoutControlCharacters, CONTROL_MESSAGE)
  .default('');

/** Acknowledges a pending, firing or recovering alert with a note: no repeats until it resolves. */
export async function acknowledge(db: Db, actor: Actor, id: string, input: Record<string, unknown>, now: Date) {
  const parsed = z.object({ note: noteField }).safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'The acknowledgement is not valid', fieldErrors(parsed.error));
  return db.transaction(async (trx) => {
    const alert = await trx('alerts').where({ id }).forUpdate().first();
    if (!alert) throw notFound('Alert');
    if (alert.state === 'ok') throw new Refusal(409, 'The alert is not open: there is nothing to acknowledge', { state: 'is ok' });
    await trx('alerts')
      .where({ id })
      .update({ acked_at: now, acked_by: actor.label, ack_note: parsed.data.note || null });
    await trx('alert_events').insert({
      alert_id: id,
      kind: 'ack',
      from_state: alert.state,
      to_state: alert.state,
      note: parsed.data.note || null,
      actor: actor.label,
      at: now,
    });
    await recordAudit(trx, actor, { action: 'alert.acknowledged', entityType: 'alert', entityId: id, after: { note: parsed.data.note } });
    await resolveAcknowledged(trx, actor, alert, now);
  });
}

const maybe = <T extends z.ZodType>(s: T) => z.preprocess(blankAsMissing, s.optional());
const silenceSchema = z.object({
  feature: maybe(z.string().trim().max(100)),
  environment: maybe(z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` })),
  kind: maybe(z.enum(ALERT_KINDS, { message: `must be one of ${ALERT_KINDS.join(', ')}` })),
  severity: maybe(z.enum(ALERT_SEVERITIES, { message: `must be one of ${ALERT_SEVERITIES.join(', ')}` })),
  hours: maybe(
    z.coerce
      .number({ message: 'must be a number of hours' })
      .positive('must be more than 0')
      .max(24 * 30, 'must be at most 720 (30 days)'),
  ),
  // A form's datetime-local has no zone: the page says UTC, so it is read as UTC whatever the server's zone.
  until: maybe(
    z.preprocess(
      (v) => (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v) ? `${v}Z` : v),
      z.coerce.date({ message: 'must be a date and time' }),
    ),
  ),
  reason: z
    .string({ message: 'is required' })
    .trim()
    .min(1, 'is required')
    .max(500, 'must be at most 500 characters')
    .refine(withoutControlCharacters, CONTROL_MESSAGE),
});

/** Silences the alerts its matchers cover (an empty matcher matches anything) from now until a time, with a reason. */
export async function createSilence(db: Db, actor: Actor, input: Record<string, unknown>, now: Date): Promise<Row<'silences'>> {
  const parsed = silenceSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'The silence is not valid', fieldErrors(parsed.error));
  const { feature: featureRef, hours, until, ...matchers } = parsed.data;
  const errors: Record<string, string> = {};
  const feature = featureRef ? await findFeature(db, featureRef) : undefined;
  if (featureRef && !feature) errors.feature = 'is not a feature';
  const ends = until ?? (hours ? new Date(now.getTime() + hours * 3_600_000) : undefined);
  if (!ends) errors.hours = 'or an end time is required';
  else if (ends <= now) errors.until = 'must be in the future';
  if (Object.keys(errors).length) throw new Refusal(422, 'The silence is not valid', errors);
  return db.transaction(async (trx) => {
    const [silence] = await trx('silences')
      .insert({ ...matchers, feature_id: feature?.id ?? null, starts_at: now, ends_at: ends!, created_by: actor.label })
      .returning('*');
    await recordAudit(trx, actor, { action: 'silence.created', entityType: 'silence', entityId: silence!.id, after: silence });
    return silence!;
  });
}

/** Silences not over yet, ending soonest first. */
export const currentSilences = (db: Db, now: Date) =>
  db('silences')
    .leftJoin('ai_features', 'ai_features.id', 'silences.feature_id')
    .where('silences.ends_at', '>', now)
    .orderBy('silences.ends_at')
    .select('silences.*', 'ai_features.name as feature_name');

/** Ends a silence now. */
export async function endSilence(db: Db, actor: Actor, id: string, now: Date): Promise<void> {
  await db.transaction(async (trx) => {
    const silence = await trx('silences').where({ id }).forUpdate().first();
    if (!silence) throw notFound('Silence');
    if (silence.ends_at <= now) return;
    await trx('silences')
      .where({ id })
      .update({ ends_at: new Date(Math.max(now.getTime(), silence.starts_at.getTime() + 1)) });
    await recordAudit(trx, actor, { action: 'silence.ended', entityType: 'silence', entityId: id, before: { ends_at: silence.ends_at } });
  });
}

/** A disabled rule's open alerts close (to ok, in their history, without a message): nothing evaluates them any more. */
export async function closeAlertsOf(trx: Db, actor: Actor, ruleId: string, now: Date): Promise<void> {
  const open = await trx('alerts').where('rule_id', ruleId).whereNot('state', 'ok').forUpdate();
  if (!open.length) return;
  await trx('alert_events').insert(
    open.map((a) => ({
      alert_id: a.id,
      kind: 'transition' as const,
      from_state: a.state,
      to_state: 'ok' as const,
      note: 'rule disabled',
      actor: actor.label,
      at: now,
    })),
  );
  await trx('alerts')
    .whereIn(
      'id',
      open.map((a) => a.id),
    )
    .update({ state: 'ok', since: now, owes_notice: false, acked_at: null, acked_by: null, ack_note: null });
}
