import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import type { AlertKind, Environment } from '../domain.ts';
import { headline } from '../metrics/definitions.ts';
import { type Snapshot, type Sums, sumsByScope } from '../metrics/queries.ts';
import type { Window } from '../metrics/ranges.ts';
import { type NoticeInput, queueNotices, silences } from './alert-notices.ts';
import { providerHealthReader } from './alert-provider-health.ts';
import { classify, type Machine, type Observation, step } from './alert-state.ts';
import { type Pace, spendPace } from './budgets.ts';

// One evaluated minute: every enabled rule on every feature it covers, read from the rollups (plus
// the raw rows not rolled up yet, as the dashboards read them: src/metrics/segments.ts) for the
// window ending at that minute, then the state machine (./alert-state.ts), the history and the
// outbox, all in the caller's transaction.

const MINUTE = 60_000;
type Rule = Row<'alert_rules'>;
type Alert = Row<'alerts'>;

const monthStart = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));

/** The window a rule reads as of a minute: its last window_min minutes, or the month so far for spend. */
const windowFor = (rule: Rule, at: Date): Window =>
  rule.kind === 'spend_month' ? { from: monthStart(at), to: at } : { from: new Date(at.getTime() - rule.window_min * MINUTE), to: at };

function observe(kind: AlertKind, s: Sums): Observation {
  const h = headline(s);
  const value = { error_rate: h.error_rate, p95_latency: h.p95, cost_per_request: h.cost_per_request, spend_month: s.cost_usd }[
    kind as Exclude<AlertKind, 'traffic_below' | 'spend_projected' | 'provider_health' | 'rollout_regression'>
  ];
  return { value: kind === 'traffic_below' ? s.requests : (value ?? null), sample_n: s.requests };
}

/**
 * What each (rule, feature) reads as of a minute: usage sums, one query per distinct environment and
 * window; projected month-end spend (src/services/budgets.ts), one read per environment; provider
 * health (./alert-provider-health.ts), one read for all.
 */
async function readings(db: Db, trx: Db, cursor: number, pairs: { rule: Rule; featureId: string }[], at: Date) {
  const groups = new Map<string, { environment: Environment | null; window: Window | null; ids: Set<string> }>();
  const keyOf = (rule: Rule) => {
    const w = rule.kind === 'spend_projected' ? null : windowFor(rule, at);
    return { key: `${rule.environment}|${w ? w.from.toISOString() : 'pace'}`, w };
  };
  const health = pairs.some((p) => p.rule.kind === 'provider_health') ? await providerHealthReader(db, at) : undefined;
  for (const { rule, featureId } of pairs.filter((p) => p.rule.kind !== 'provider_health')) {
    const { key, w } = keyOf(rule);
    const g = groups.get(key) ?? { environment: rule.environment, window: w, ids: new Set<string>() };
    g.ids.add(featureId);
    groups.set(key, g);
  }
  const sums = new Map<string, Map<string, Sums>>();
  const paces = new Map<string, Map<string, Pace>>();
  for (const [key, g] of groups) {
    const snapshot: Snapshot = { db: trx, cursor, environment: g.environment };
    if (g.window) sums.set(key, await sumsByScope(snapshot, 'feature', [...g.ids], g.window));
    else paces.set(key, await spendPace(snapshot, [...g.ids], at));
  }
  return (rule: Rule, featureId: string): Observation => {
    const { key } = keyOf(rule);
    if (rule.kind === 'provider_health') return health!(rule, featureId);
    if (rule.kind === 'spend_projected') {
      const p = paces.get(key)?.get(featureId);
      return { value: p?.projected_eom ?? null, sample_n: p?.requests ?? 0 };
    }
    const s = sums.get(key)?.get(featureId);
    return s ? observe(rule.kind, s) : { value: null, sample_n: 0 };
  };
}

export interface MinuteResult {
  transitions: number;
  notices: number;
}

/** The alert row of every (rule, feature), made when new, locked until the transaction ends. */
async function lockedAlerts(trx: Db, pairs: { rule: Rule; featureId: string }[], at: Date): Promise<Map<string, Alert>> {
  await trx.raw(
    `INSERT INTO alerts (rule_id, feature_id, since, evaluated_at)
     SELECT rule_id, feature_id, :at::timestamptz, :at::timestamptz FROM jsonb_to_recordset(:pairs::jsonb) AS p (rule_id uuid, feature_id uuid)
     ON CONFLICT (rule_id, feature_id) DO NOTHING`,
    { at: at.toISOString(), pairs: JSON.stringify(pairs.map((p) => ({ rule_id: p.rule.id, feature_id: p.featureId }))) },
  );
  return new Map(
    (
      await trx('alerts')
        .whereIn('rule_id', [...new Set(pairs.map((p) => p.rule.id))])
        .forUpdate()
    ).map((a) => [`${a.rule_id}|${a.feature_id}`, a]),
  );
}

/** Evaluates every enabled rule as of `at` (a whole minute); `cursor` is the rollup cursor of the caller's snapshot. */
export async function evaluateMinute(db: Db, trx: Db, cursor: number, at: Date): Promise<MinuteResult> {
  // A rollout_regression rule has no measurement: the rollout guard raises and resolves its alerts (./rollout-alerts.ts).
  const rules = await trx('alert_rules').where('enabled', true).whereNot('kind', 'rollout_regression');
  const features = await trx('ai_features').whereNull('archived_at').select('id', 'name');
  const pairs = rules.flatMap((rule) =>
    features.filter((f) => rule.feature_id === null || rule.feature_id === f.id).map((f) => ({ rule, featureId: f.id })),
  );
  if (!pairs.length) return { transitions: 0, notices: 0 };
  const observationOf = await readings(db, trx, cursor, pairs, at);

  const alerts = await lockedAlerts(trx, pairs, at);
  const active = await trx('silences').where('starts_at', '<=', at).where('ends_at', '>', at);
  const names = new Map(features.map((f) => [f.id, f.name]));

  const updates: Record<string, unknown>[] = [];
  const happened: { event: NewEvent; notice: (Omit<NoticeInput, 'event'> & { silenced: boolean }) | null }[] = [];
  let transitions = 0;
  for (const { rule, featureId } of pairs) {
    const alert = alerts.get(`${rule.id}|${featureId}`) as Alert;
    const o = observationOf(rule, featureId);
    const s = step(alert, rule, classify(rule, o), at);
    const silenced = active.some((x) => silences(x, rule, featureId, at));
    // A message silenced while firing is owed: exactly one goes out when no silence covers the alert any more.
    const owed = alert.owes_notice && s.next.state === 'firing' && !s.notice;
    const notice = s.notice ?? (owed && !silenced ? 'unsilenced' : null);
    const next: Machine = notice ? { ...s.next, last_notified_at: at } : s.next;
    const owes = next.state === 'firing' && (notice ? silenced : owed);
    if (s.from) transitions++;
    if (s.from || notice) {
      const kind = s.from ? 'transition' : notice === 'repeat' ? 'repeat' : 'unsilenced';
      happened.push({
        event: {
          alert_id: alert.id,
          kind,
          from_state: s.from ?? alert.state,
          to_state: next.state,
          value: o.value,
          threshold: rule.threshold,
          sample_n: o.sample_n,
          note: null,
          actor: null,
          at,
        },
        notice: notice && {
          alert: { id: alert.id, started_at: next.started_at },
          rule,
          feature: { id: featureId, name: names.get(featureId) ?? '' },
          notice,
          at,
          silenced,
        },
      });
    }
    updates.push({ id: alert.id, ...next, last_value: o.value, last_sample_n: o.sample_n, owes_notice: owes });
  }
  await writeAlerts(trx, updates, at);
  if (!happened.length) return { transitions, notices: 0 };
  const events = await trx('alert_events')
    .insert(happened.map((h) => h.event))
    .returning(['id', 'kind', 'from_state', 'to_state', 'value', 'sample_n']);
  const notices = happened.flatMap((h, i) => (h.notice ? [{ ...h.notice, event: events[i]! }] : []));
  await queueNotices(trx, notices);
  return { transitions, notices: notices.length };
}

type NewEvent = Omit<Row<'alert_events'>, 'id'>;

/** Writes every evaluated alert's state and last reading in one statement; an acknowledgement ends with the incident. */
async function writeAlerts(trx: Db, updates: Record<string, unknown>[], at: Date) {
  await trx.raw(
    `UPDATE alerts a SET state = u.state, since = u.since, started_at = u.started_at, last_value = u.last_value,
       last_sample_n = u.last_sample_n, evaluated_at = :at::timestamptz, last_notified_at = u.last_notified_at,
       owes_notice = u.owes_notice, acked_at = u.acked_at,
       acked_by = CASE WHEN u.acked_at IS NULL THEN NULL ELSE a.acked_by END,
       ack_note = CASE WHEN u.acked_at IS NULL THEN NULL ELSE a.ack_note END
     FROM jsonb_to_recordset(:rows::jsonb) AS u (id uuid, state text, since timestamptz, started_at timestamptz, last_value numeric,
       last_sample_n bigint, last_notified_at timestamptz, owes_notice boolean, acked_at timestamptz)
     WHERE a.id = u.id`,
    { at: at.toISOString(), rows: JSON.stringify(updates) },
  );
}
