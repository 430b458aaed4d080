import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { configFetches } from '../db/queries/runtime-config-fetches.ts';
import { ENVIRONMENTS, FEATURE_STATUSES, MODEL_TYPES, OVER_BUDGET_ACTIONS } from '../domain.ts';
import { monthToDateSpend } from '../metrics/summaries.ts';
import { runtimeConfig } from '../services/runtime-config.ts';

const OVER_BUDGET_LABELS: Record<(typeof OVER_BUDGET_ACTIONS)[number], string> = {
  notify: 'notify only',
  flag: 'flag over_budget in the runtime config',
};

/** A date and time as a `datetime-local` field shows it, in the console's time zone (seconds only when set, so a save gives it back unchanged). */
function localInput(at: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const seconds = part('second') === '00' ? '' : `:${part('second')}`;
  return `${part('year')}-${part('month')}-${part('day')}T${part('hour')}:${part('minute')}${seconds}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
function ago(at: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** What the forms show when they are not shown again after a refusal: the stored values, as fields hold them. */
function formValues(f: FeatureRow, timeZone: string): Record<string, string> {
  const text = (v: number | string | null) => (v === null ? '' : String(v));
  return {
    display_name: f.display_name,
    description: f.description,
    required_model_type: f.required_model_type,
    error_rate_threshold: text(f.error_rate_threshold),
    latency_threshold_ms: text(f.latency_threshold_ms),
    monthly_budget_usd: text(f.monthly_budget_usd),
    over_budget_action: f.over_budget_action,
    min_eval_pass_rate: text(f.min_eval_pass_rate),
    status: f.status,
    status_reason: f.status_reason ?? '',
    restore_at: f.restore_at ? localInput(f.restore_at, timeZone) : '',
  };
}

/** Per environment: the tokens that fetched the config, and how many hold the version it has now. */
async function clientsByEnvironment(db: Db, feature: FeatureRow, now: Date) {
  const [fetches, configs] = await Promise.all([
    configFetches(db, feature.id),
    Promise.all(ENVIRONMENTS.map((env) => runtimeConfig(db, feature, env, now))),
  ]);
  return ENVIRONMENTS.map((environment, i) => {
    const tokens = fetches
      .filter((r) => r.environment === environment)
      .map((r) => ({ name: r.token_name, current: r.last_version === configs[i].version, lastFetch: ago(r.last_fetched_at, now) }));
    return {
      environment,
      version: configs[i].version,
      total: tokens.length,
      onCurrent: tokens.filter((t) => t.current).length,
      lastFetch: tokens[0]?.lastFetch ?? null,
      tokens,
    };
  });
}

/** The Settings tab (SPEC §10.3): the forms' values and choices, what serves where (what the kill switch stops), this month's spend, and which clients hold the current config. */
export async function featureSettingsTab(db: Db, feature: FeatureRow, now: Date, timeZone: string) {
  const [served, spend, clients] = await Promise.all([
    activeAssignments(db, { featureId: feature.id }),
    monthToDateSpend(db, [feature.id], now),
    clientsByEnvironment(db, feature, now),
  ]);
  const monthSpend = spend.current.get(feature.id) ?? 0;
  const budget = feature.monthly_budget_usd === null ? null : Number(feature.monthly_budget_usd);
  const values = formValues(feature, timeZone);
  return {
    values,
    /** The fields the tab's forms show (a refusal naming another is listed above them). */
    fields: Object.keys(values),
    options: {
      modelTypes: MODEL_TYPES,
      statuses: FEATURE_STATUSES,
      overBudgetActions: OVER_BUDGET_ACTIONS.map((a) => [a, OVER_BUDGET_LABELS[a]]),
    },
    served,
    spend: { month: monthSpend, budget, over: budget !== null && monthSpend >= budget },
    clients,
  };
}
