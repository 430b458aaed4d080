import type { Db } from '../db/knex.ts';
import { ALERT_KINDS, ALERT_SEVERITIES, type AlertKind, ENVIRONMENTS, NO_DATA_POLICIES, RULE_KINDS } from '../domain.ts';
import type { Format } from '../format.ts';
import { ruleView } from '../services/alert-rules.ts';
import { type AlertView, alertHistory, currentSilences, findAlert, type HistoryRow, openAlerts } from '../services/alerts.ts';
import { budgetFigures } from '../services/budgets.ts';
import { deliveries, listChannels } from '../services/notification-channels.ts';
import { type CsvColumn, csvOf } from './csv.ts';

// The Alerts page (SPEC §10.4): open alerts, history, silences, rules, channels and deliveries,
// each table also as CSV (?format=csv&table=…). Values are worded by what the rule watches.

export const ALERT_TABLES = ['open', 'history', 'budgets', 'silences', 'rules', 'channels', 'deliveries'] as const;
export type AlertTable = (typeof ALERT_TABLES)[number];

export const KIND_LABELS: Record<AlertKind, string> = {
  error_rate: 'Error rate',
  p95_latency: 'p95 latency',
  traffic_below: 'Traffic below',
  cost_per_request: 'Cost per request',
  spend_month: 'Spend this month',
  spend_projected: 'Projected month-end spend',
  provider_health: 'Provider health below',
  rollout_regression: 'Rollout regression',
};

/** A rule's value or threshold in its unit. */
export function amountIn(fmt: Format, kind: AlertKind, value: number | null): string {
  if (value === null) return 'no data';
  switch (kind) {
    case 'error_rate':
      return fmt.percent(value);
    case 'p95_latency':
      return fmt.ms(value);
    case 'traffic_below':
      return `${fmt.integer(value)} requests`;
    case 'cost_per_request':
      return fmt.usd(value, 4);
    case 'provider_health':
      return `${fmt.decimal(value)} / 100`;
    case 'rollout_regression':
      return "each rollout's guard margins";
    default:
      return fmt.usd(value);
  }
}

const SPEND_KINDS = new Set<AlertKind>(['spend_month', 'spend_projected']);

/** A rule's window in words: minutes, or the month for spend. */
const windowText = (r: { kind: AlertKind; window_min: number; for_min: number }) =>
  r.kind === 'rollout_regression'
    ? "each rollout's “for” minutes"
    : r.kind === 'spend_month'
      ? 'month to date'
      : r.kind === 'spend_projected'
        ? 'month end, at the 7-day rate'
        : `${r.window_min} min · for ${r.for_min} min`;

const label = (kind: string) => KIND_LABELS[kind as keyof typeof KIND_LABELS] ?? kind;

/** What an open alert says in one line: "Error rate 20.0% (threshold 10.0%) over 5 min, 120 requests". */
export const alertSummary = (fmt: Format, a: AlertView) =>
  a.kind === 'rollout_regression'
    ? 'Rollout regression: the guard rolled back or paused a rollout (its numbers are in the timeline)'
    : `${label(a.kind)} ${amountIn(fmt, a.kind, a.last_value)} (threshold ${amountIn(fmt, a.kind, a.threshold)})${SPEND_KINDS.has(a.kind) ? '' : ` over ${a.kind === 'provider_health' ? '24 h' : `${a.window_min} min`}, ${fmt.integer(a.last_sample_n ?? 0)} requests`}`;

export const eventSummary = (e: HistoryRow) =>
  e.kind === 'budget' || e.kind === 'rollout'
    ? `${e.kind}: ${e.note}`
    : e.kind === 'ack'
      ? `acknowledged by ${e.actor}${e.note ? `: ${e.note}` : ''}`
      : e.kind === 'repeat'
        ? 'still firing: notified again'
        : e.kind === 'unsilenced'
          ? 'silence over, still firing: notified'
          : e.note
            ? `${e.from_state} → ${e.to_state} (${e.note}${e.actor ? ` by ${e.actor}` : ''})`
            : `${e.from_state} → ${e.to_state}${e.to_state === 'ok' && e.from_state !== 'pending' ? ' (resolved)' : ''}`;

/** Each feature with a budget: its figures this month and the marks already told. */
export async function budgetRows(db: Db, now: Date) {
  const features = await db('ai_features')
    .whereNull('archived_at')
    .whereNotNull('monthly_budget_usd')
    .orderBy('name')
    .select('id', 'name', 'monthly_budget_usd');
  const figures = await budgetFigures(db, features, now);
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10);
  const marks = await db('budget_marks')
    .where('month', month)
    .whereIn(
      'feature_id',
      features.map((f) => f.id),
    )
    .select('feature_id', 'mark');
  return features.map((f) => ({
    feature_id: f.id,
    feature: f.name,
    ...figures.get(f.id)!,
    marks: marks.filter((m) => m.feature_id === f.id).map((m) => (m.mark === 'projected' ? 'projected over' : `${m.mark}%`)),
  }));
}

export async function alertsPage(db: Db, fmt: Format, now: Date) {
  const [open, budgets, history, silences, rules, channels, log, features] = await Promise.all([
    openAlerts(db),
    budgetRows(db, now),
    alertHistory(db),
    currentSilences(db, now),
    db('alert_rules')
      .leftJoin('ai_features', 'ai_features.id', 'alert_rules.feature_id')
      .orderBy(['alert_rules.kind', 'ai_features.name'])
      .select('alert_rules.*', 'ai_features.name as feature_name'),
    listChannels(db),
    deliveries(db),
    db('ai_features').whereNull('archived_at').orderBy('name').select('id', 'name'),
  ]);
  const channelNames = new Map(channels.map((c) => [c.id, c.name]));
  return {
    open: open.map((a) => ({ ...a, summary: alertSummary(fmt, a) })),
    history: history.map((e) => ({ ...e, summary: eventSummary(e), kind_label: label(e.rule_kind) })),
    budgets,
    silences,
    rules: rules.map((r) => ({
      ...ruleView(r),
      feature_name: (r as { feature_name: string | null }).feature_name,
      kind_label: label(r.kind),
      threshold_text: amountIn(fmt, r.kind, r.threshold),
      window_text: windowText(r),
      channel_names: r.channel_ids.map((id: string) => channelNames.get(id) ?? id),
    })),
    channels,
    deliveries: log,
    choices: {
      features: [['', 'Every feature'], ...features.map((f) => [f.name, f.name])],
      environments: [['', 'Every environment'], ...ENVIRONMENTS.map((e) => [e, e])],
      kinds: RULE_KINDS.map((k) => [k, KIND_LABELS[k]]),
      anyKind: [['', 'Any kind'], ...ALERT_KINDS.map((k) => [k, KIND_LABELS[k]])],
      severities: ALERT_SEVERITIES,
      anySeverity: [['', 'Any severity'], ...ALERT_SEVERITIES.map((s) => [s, s])],
      noData: NO_DATA_POLICIES.map((p) => [p, { ok: 'count as clear', keep: 'keep the state', alert: 'count as a breach' }[p]]),
      channels: channels.map((c) => [c.id, c.name]),
      channelKinds: [
        ['webhook', 'Webhook (signed JSON)'],
        ['slack', 'Slack-compatible'],
      ],
    },
  };
}

/** Open alerts, each with its one-line summary (the overview's list). */
export const openAlertList = async (db: Db, fmt: Format) => (await openAlerts(db)).map((a) => ({ ...a, summary: alertSummary(fmt, a) }));

/** A feature's open alerts, for the note above its tabs. */
export const featureAlerts = async (db: Db, featureId: string) =>
  (await openAlerts(db, { featureId })).map((a) => ({
    id: a.id,
    state: a.state,
    since: a.since,
    environment: a.environment,
    label: label(a.kind),
  }));

/** An alert's page: what it says now, its timeline (newest first), and the silence lengths offered. */
export async function alertPage(db: Db, fmt: Format, id: string) {
  const alert = await findAlert(db, id);
  if (!alert) return undefined;
  const timeline = (await alertHistory(db, { alertId: id }, 500)).map((e) => ({
    ...e,
    summary: eventSummary(e),
    value_text: e.value === null ? null : amountIn(fmt, alert.kind, e.value),
  }));
  return {
    alert: { ...alert, summary: alertSummary(fmt, alert), kind_label: label(alert.kind) },
    timeline,
    silenceHours: [
      ['1', '1 hour'],
      ['4', '4 hours'],
      ['24', '24 hours'],
    ],
  };
}

type Page = Awaited<ReturnType<typeof alertsPage>>;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

const COLUMNS: { [T in AlertTable]: readonly CsvColumn<Page[T][number]>[] } = {
  open: [
    ['alert_id', (a) => a.id],
    ['feature', (a) => a.feature_name],
    ['kind', (a) => a.kind],
    ['environment', (a) => a.environment],
    ['severity', (a) => a.severity],
    ['state', (a) => a.state],
    ['since', (a) => iso(a.since)],
    ['value', (a) => a.last_value],
    ['threshold', (a) => a.threshold],
    ['sample_n', (a) => a.last_sample_n],
    ['acked_by', (a) => a.acked_by],
    ['ack_note', (a) => a.ack_note],
  ],
  history: [
    ['at', (e) => iso(e.at)],
    ['alert_id', (e) => e.alert_id],
    ['feature', (e) => e.feature_name],
    ['kind', (e) => e.rule_kind],
    ['event', (e) => e.kind],
    ['from_state', (e) => e.from_state],
    ['to_state', (e) => e.to_state],
    ['value', (e) => e.value],
    ['threshold', (e) => e.threshold],
    ['sample_n', (e) => e.sample_n],
    ['actor', (e) => e.actor],
    ['note', (e) => e.note],
  ],
  budgets: [
    ['feature', (b) => b.feature],
    ['budget_usd', (b) => b.budget],
    ['month_to_date_usd', (b) => b.mtd],
    ['used_pct', (b) => b.used_pct],
    ['rate_usd_per_day', (b) => b.rate_per_day],
    ['rate_days', (b) => b.rate_days],
    ['projected_month_end_usd', (b) => b.projected_eom],
    ['exhaustion_at', (b) => iso(b.exhaustion_at)],
    ['marks', (b) => b.marks.join('; ')],
  ],
  silences: [
    ['id', (s) => s.id],
    ['feature', (s) => (s as { feature_name: string | null }).feature_name],
    ['environment', (s) => s.environment],
    ['kind', (s) => s.kind],
    ['severity', (s) => s.severity],
    ['starts_at', (s) => iso(s.starts_at)],
    ['ends_at', (s) => iso(s.ends_at)],
    ['reason', (s) => s.reason],
    ['created_by', (s) => s.created_by],
  ],
  rules: [
    ['id', (r) => r.id],
    ['feature', (r) => r.feature_name],
    ['environment', (r) => r.environment],
    ['kind', (r) => r.kind],
    ['threshold', (r) => r.threshold],
    ['resolve_threshold', (r) => r.resolve_threshold],
    ['window_minutes', (r) => r.window_minutes],
    ['for_minutes', (r) => r.for_minutes],
    ['min_requests', (r) => r.min_requests],
    ['no_data', (r) => r.no_data],
    ['severity', (r) => r.severity],
    ['channels', (r) => r.channel_names.join('; ')],
    ['enabled', (r) => String(r.enabled)],
    ['default', (r) => String(r.is_default)],
  ],
  channels: [
    ['id', (c) => c.id],
    ['name', (c) => c.name],
    ['kind', (c) => c.kind],
    ['url', (c) => c.url],
    ['has_secret', (c) => String(c.has_secret)],
    ['enabled', (c) => String(c.enabled)],
  ],
  deliveries: [
    ['delivery_id', (d) => d.id],
    ['channel', (d) => (d as { channel_name: string }).channel_name],
    ['notice', (d) => String(d.payload.notice ?? '')],
    ['status', (d) => d.status],
    ['attempts', (d) => d.attempts],
    ['last_status_code', (d) => d.last_status_code],
    ['last_error', (d) => d.last_error],
    ['created_at', (d) => iso(d.created_at)],
    ['next_attempt_at', (d) => iso(d.next_attempt_at)],
  ],
};

export const alertsCsv = (table: AlertTable, page: Page) =>
  csvOf(COLUMNS[table] as readonly CsvColumn<unknown>[], page[table] as unknown[]);
