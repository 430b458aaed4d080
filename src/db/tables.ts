import type { Knex } from 'knex';
import type { Tables } from 'knex/types/tables.js';
import type { Role } from '../auth/principal.ts';
import type {
  AlertEventKind,
  AlertKind,
  AlertSeverity,
  AlertState,
  ChangeRequestStatus,
  ChannelKind,
  Check,
  DeliveryStatus,
  DeploymentKind,
  DeploymentStatus,
  DeploymentSubject,
  Environment,
  FeatureStatus,
  ModelStatus,
  ModelType,
  NoDataPolicy,
  OverBudgetAction,
  PromptParams,
  ProviderKind,
  ProviderStatus,
  TokenScope,
  UsageStatus,
} from '../domain.ts';
import type { RolloutGuard, RolloutStage, RolloutStatus } from '../services/rollout-plan.ts';
import type { Assertion } from '../services/test-assertions.ts';
import type { TestAttempt, TestRunPurpose, TestRunStatus } from '../services/test-runs.ts';

// The tables as the migrations (migrations/) create them, one type per table, for Knex: a
// query on a table by its name (`db('ai_models')`) is typed by these, so a renamed column fails tsc.
// Joined queries name their columns through src/db/columns.ts, which checks them against these too.
// NUMERIC and BIGINT columns are numbers (src/db/knex.ts parses them); json and jsonb are parsed.

type UserRow = {
  id: string;
  email: string;
  password_hash: string;
  role: Role;
  created_at: Date;
  last_login_at: Date | null;
};

/** connect-pg-simple's table; the app only reads and expires it. */
type SessionRow = {
  sid: string;
  sess: Record<string, unknown>;
  expire: Date;
};

type ProviderTableRow = {
  id: string;
  name: string;
  display_name: string;
  kind: ProviderKind;
  base_url: string | null;
  /** AES-256-GCM under SECRETS_KEY, bound to the provider's id (src/providers/secrets.ts). */
  api_key_ciphertext: Buffer | null;
  api_key_last4: string | null;
  status: ProviderStatus;
  created_at: Date;
  updated_at: Date;
  /** Hidden from pickers and default lists, history kept (null while in use). */
  archived_at: Date | null;
  archived_by: string | null;
};

type ModelTableRow = {
  id: string;
  provider_id: string;
  name: string;
  display_name: string;
  model_type: ModelType;
  status: ModelStatus;
  input_price_per_1k: number;
  output_price_per_1k: number;
  context_window: number | null;
  created_at: Date;
  updated_at: Date;
  /** Hidden from pickers and default lists, history kept (null while in use). */
  archived_at: Date | null;
  archived_by: string | null;
};

type FeatureTableRow = {
  id: string;
  name: string;
  display_name: string;
  description: string;
  status: FeatureStatus;
  required_model_type: ModelType;
  /** Percent: a minute at or above it is bad (SPEC §4). */
  error_rate_threshold: number;
  latency_threshold_ms: number;
  monthly_budget_usd: number | null;
  over_budget_action: OverBudgetAction;
  /** Percent: the test suite's pass rate a production change must reach; null for no minimum. */
  min_eval_pass_rate: number | null;
  /** Why the feature is not active (the kill switch); null while active. */
  status_reason: string | null;
  /** When the restore-status job makes the feature active again; null for never. */
  restore_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** Hidden from pickers and default lists, history kept (null while in use). */
  archived_at: Date | null;
  archived_by: string | null;
};

/** The last runtime config a token was served for a feature in an environment. */
type RuntimeConfigFetchRow = {
  api_key_id: string;
  feature_id: string;
  environment: Environment;
  last_version: string;
  last_fetched_at: Date;
};

type AssignmentTableRow = {
  id: string;
  feature_id: string;
  model_id: string;
  environment: Environment;
  is_active: boolean;
  assigned_at: Date;
  assigned_by: string;
  deactivated_at: Date | null;
  config_overrides: Record<string, unknown>;
};

type DeploymentTableRow = {
  id: string;
  feature_id: string;
  model_id: string;
  previous_model_id: string | null;
  environment: Environment;
  kind: DeploymentKind;
  status: DeploymentStatus;
  requested_by: string;
  assignment_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  checks: Check[];
  error: string | null;
  subject: DeploymentSubject;
  /** A prompt deployment: the version it activates, and the one active before (model_id is the model it was checked with). */
  prompt_version_id: string | null;
  previous_prompt_version_id: string | null;
  /** Why, as the person who asked said it. */
  reason: string;
};

type EnvironmentPolicyRow = {
  environment: Environment;
  requires_approval: boolean;
  updated_by: string;
  updated_at: Date;
};

type ChangeRequestTableRow = {
  id: string;
  feature_id: string;
  environment: Environment;
  /** A model change, or (issue 18) the start of a rollout: `rollout` then holds the start as asked. */
  kind: DeploymentKind | 'rollout';
  model_id: string;
  previous_model_id: string | null;
  status: ChangeRequestStatus;
  requested_by_kind: 'user' | 'token';
  requested_by_id: string;
  requested_by: string;
  reason: string;
  requested_at: Date;
  expires_at: Date;
  decided_by_id: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  decision_note: string | null;
  deployment_id: string | null;
  /** A prompt activation asked for (model_id is then the environment's model it is checked with). */
  prompt_version_id: string | null;
  previous_prompt_version_id: string | null;
  rollout: Record<string, unknown> | null;
  /** The rollout an approved rollout request started. */
  rollout_id: string | null;
};

type UsageLogRow = {
  id: number;
  event_id: string;
  feature_id: string;
  model_id: string;
  provider_id: string;
  environment: Environment;
  end_user_id: string | null;
  status: UsageStatus;
  response_time_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  input_cost_usd: number;
  created_at: Date;
  ingested_at: Date;
  /** The feature's prompt version the event named (issue 15); null when it named none. */
  prompt_version: number | null;
};

type RollupCursorRow = {
  name: string;
  last_id: number;
  updated_at: Date;
};

type MinuteCountsRow = {
  scope: 'feature' | 'model' | 'provider';
  scope_id: string;
  hour: Date;
  requests: number[];
  failures: number[];
  worst_bp: number;
  minute_bps: number[];
};

type PromptVersionTableRow = {
  id: string;
  feature_id: string;
  version: number;
  template: string;
  notes: string;
  created_by: string;
  created_at: Date;
  params: PromptParams;
  sample_values: Record<string, string>;
  variables: string[];
  content_hash: string;
};

/** A playground call's usage (issue 16): kept out of every production figure. */
type PlaygroundCallRow = {
  id: string;
  event_id: string;
  feature_id: string;
  model_id: string;
  prompt_version_id: string | null;
  environment: Environment | null;
  ok: boolean;
  error: string | null;
  latency_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  created_by: string;
  created_at: Date;
};

/** A test case (issue 16): an input and the assertions its outcome must meet; see migrations/…_create_test_cases. */
type TestCaseRow = {
  id: string;
  feature_id: string;
  name: string;
  input: { variables?: Record<string, string>; messages?: { role: 'system' | 'user' | 'assistant'; content: string }[] };
  assertions: Assertion[];
  critical: boolean;
  repeats: number;
  pass_k: number;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
};

/** A test-suite run (issue 16): see migrations/…_create_test_runs. */
type TestRunRow = {
  id: string;
  feature_id: string;
  model_id: string;
  prompt_version_id: string | null;
  environment: Environment | null;
  purpose: TestRunPurpose;
  deployment_id: string | null;
  status: TestRunStatus;
  estimate_usd: number;
  cost_cap_usd: number;
  cost_usd: number;
  cases_total: number;
  cases_done: number;
  cases_passed: number;
  critical_failures: number;
  pass_rate: number | null;
  lease_owner: string | null;
  lease_until: Date | null;
  /** How many times it was taken over after its worker stopped (its lease lapsed). */
  resumed: number;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  error: string | null;
};

/** One case of a run: the case as it was when the run was created, and each attempt's outcome. */
type TestRunResultRow = {
  id: string;
  run_id: string;
  position: number;
  case_id: string | null;
  case_snapshot: Pick<TestCaseRow, 'name' | 'input' | 'assertions' | 'critical' | 'repeats' | 'pass_k'>;
  status: 'pending' | 'done';
  attempts: TestAttempt[];
  passed: boolean | null;
  latency_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  finished_at: Date | null;
};

type PromptActivationRow = {
  id: string;
  feature_id: string;
  prompt_version_id: string;
  environment: Environment;
  is_active: boolean;
  activated_at: Date;
  activated_by: string;
  deactivated_at: Date | null;
  previous_version_id: string | null;
  deployment_id: string | null;
};

type ApiKeyTableRow = {
  id: string;
  name: string;
  /** SHA-256 of the whole token. */
  token_hash: Buffer;
  prefix: string;
  scope: TokenScope;
  created_by: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
};

type AuditLogRow = {
  id: number;
  occurred_at: Date;
  actor_type: 'user' | 'token' | 'system';
  actor_id: string | null;
  actor_label: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
};

type HealthCheckRow = {
  id: number;
  provider_id: string;
  model_id: string | null;
  kind: 'probe' | 'smoke' | 'manual';
  status: 'ok' | 'error';
  latency_ms: number | null;
  error: string | null;
  checked_at: Date;
};

// Alerting (issue 17): see migrations/…_create_alerting for the design.
type AlertRuleRow = {
  id: string;
  /** null: every feature. */
  feature_id: string | null;
  /** null: every environment. */
  environment: Environment | null;
  kind: AlertKind;
  threshold: number;
  /** null: the threshold. */
  resolve_threshold: number | null;
  window_min: number;
  for_min: number;
  /** null: for_min. */
  resolve_for_min: number | null;
  min_requests: number;
  no_data: NoDataPolicy;
  repeat_min: number;
  severity: AlertSeverity;
  channel_ids: string[];
  enabled: boolean;
  is_default: boolean;
  created_by: string;
  created_at: Date;
  updated_at: Date;
};

type AlertRow = {
  id: string;
  rule_id: string;
  feature_id: string;
  state: AlertState;
  /** When the current state began (for pending and recovering: the first minute of the run). */
  since: Date;
  /** When the alert last went from ok to pending (the incident's start); null before. */
  started_at: Date | null;
  last_value: number | null;
  last_sample_n: number | null;
  evaluated_at: Date;
  last_notified_at: Date | null;
  owes_notice: boolean;
  acked_by: string | null;
  acked_at: Date | null;
  ack_note: string | null;
};

type AlertEventRow = {
  id: number;
  alert_id: string;
  kind: AlertEventKind;
  from_state: AlertState | null;
  to_state: AlertState | null;
  value: number | null;
  threshold: number | null;
  sample_n: number | null;
  note: string | null;
  actor: string | null;
  at: Date;
};

type SilenceRow = {
  id: string;
  feature_id: string | null;
  environment: Environment | null;
  kind: AlertKind | null;
  severity: AlertSeverity | null;
  starts_at: Date;
  ends_at: Date;
  reason: string;
  created_by: string;
  created_at: Date;
};

type NotificationChannelRow = {
  id: string;
  name: string;
  kind: ChannelKind;
  url: string;
  /** AES-256-GCM under SECRETS_KEY, bound to the channel's id (src/providers/secrets.ts). */
  secret_ciphertext: Buffer | null;
  enabled: boolean;
  created_by: string;
  created_at: Date;
  updated_at: Date;
};

type NotificationDeliveryRow = {
  /** Sent as X-Switchboard-Delivery: the same on every attempt. */
  id: string;
  event_id: number | null;
  channel_id: string;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
};

type BudgetMarkRow = {
  feature_id: string;
  /** The month's first day (UTC): written as text YYYY-MM-DD, read as a Date at 00:00 UTC. */
  month: Date | string;
  mark: '50' | '80' | '100' | 'projected';
  fired_at: Date;
  message: string;
};

/** A table's row as read: `Row<'ai_models'>`. */
export type Row<T extends keyof Tables> = Knex.ResolveTableType<Tables[T]>;
/** What an insert into a table gives: `NewRow<'deployments'>`. */
export type NewRow<T extends keyof Tables> = Knex.ResolveTableType<Tables[T], 'insert'>;

/** How a table's columns are written: those with a default, json or jsonb ones, NUMERIC ones. */
interface Columns<Row> {
  defaults?: keyof Row;
  json?: keyof Row;
  decimal?: keyof Row;
}
type Of<C, K extends keyof Columns<unknown>> = C extends { [k in K]: infer V } ? V : never;

/**
 * What a write may give a column: its value or SQL (`now()`); json and jsonb columns take JSON text
 * (node-pg would send an array as a Postgres array), NUMERIC ones also exact decimal text.
 */
type Writes<Row, C extends Columns<Row>> = {
  [K in keyof Row]:
    | (K extends Of<C, 'json'> ? string | (null extends Row[K] ? null : never) : K extends Of<C, 'decimal'> ? Row[K] | string : Row[K])
    | Knex.Raw;
};
/** Columns an insert may leave out: those with a default, and the nullable ones. */
type Optional<Row, C extends Columns<Row>> =
  | Extract<Of<C, 'defaults'>, keyof Row>
  | { [K in keyof Row]-?: null extends Row[K] ? K : never }[keyof Row];

/** A table for Knex: rows as read; inserts need every column without a default; updates any. */
type Table<Row, C extends Columns<Row> = Record<never, never>> = Knex.CompositeTableType<
  Row,
  Omit<Writes<Row, C>, Optional<Row, C>> & Partial<Pick<Writes<Row, C>, Optional<Row, C>>>,
  Partial<Writes<Row, C>>
>;

/** A gradual rollout (issue 18): a candidate served to a sticky share of an environment's users. */
type RolloutRow = {
  id: string;
  feature_id: string;
  environment: Environment;
  candidate_model_id: string | null;
  candidate_prompt_version_id: string | null;
  stable_model_id: string | null;
  stable_prompt_version_id: string | null;
  salt: string;
  percent_bp: number;
  stages: RolloutStage[];
  stage_idx: number;
  stage_started_at: Date;
  guard: RolloutGuard;
  status: RolloutStatus;
  breach_since: Date | null;
  insufficient_since: Date | null;
  started_by: string;
  started_at: Date;
  finished_at: Date | null;
  finished_by: string | null;
  updated_at: Date;
};

/** One line of a rollout's decision log, by a person or by the guard. */
type RolloutDecisionRow = {
  id: number;
  rollout_id: string;
  action: string;
  automatic: boolean;
  from_bp: number;
  to_bp: number;
  explanation: string;
  evidence: Record<string, unknown>;
  decided_by: string;
  decided_at: Date;
};

/** A feature's unique-user HyperLogLog sketch for one bucket (src/metrics/user-sketch.ts). */
type UserSketchRow = {
  feature_id: string;
  grain_ms: number;
  bucket: Date;
  registers: Buffer;
};

declare module 'knex/types/tables.js' {
  interface Tables {
    users: Table<UserRow, { defaults: 'id' | 'created_at' }>;
    sessions: Table<SessionRow, { json: 'sess' }>;
    ai_providers: Table<ProviderTableRow, { defaults: 'id' | 'status' | 'created_at' | 'updated_at' }>;
    ai_models: Table<
      ModelTableRow,
      { defaults: 'id' | 'status' | 'created_at' | 'updated_at'; decimal: 'input_price_per_1k' | 'output_price_per_1k' }
    >;
    ai_features: Table<
      FeatureTableRow,
      {
        defaults:
          | 'id'
          | 'description'
          | 'status'
          | 'error_rate_threshold'
          | 'latency_threshold_ms'
          | 'over_budget_action'
          | 'created_at'
          | 'updated_at';
        decimal: 'error_rate_threshold' | 'monthly_budget_usd' | 'min_eval_pass_rate';
      }
    >;
    feature_model_assignments: Table<
      AssignmentTableRow,
      { defaults: 'id' | 'is_active' | 'assigned_at' | 'config_overrides'; json: 'config_overrides' }
    >;
    deployments: Table<DeploymentTableRow, { defaults: 'id' | 'status' | 'started_at' | 'checks' | 'subject' | 'reason'; json: 'checks' }>;
    environment_policies: Table<EnvironmentPolicyRow, { defaults: 'updated_at' }>;
    change_requests: Table<
      ChangeRequestTableRow,
      {
        defaults:
          | 'id'
          | 'status'
          | 'reason'
          | 'requested_at'
          | 'decided_by_id'
          | 'decided_by'
          | 'decided_at'
          | 'decision_note'
          | 'deployment_id'
          | 'previous_model_id'
          | 'prompt_version_id'
          | 'previous_prompt_version_id'
          | 'rollout'
          | 'rollout_id';
        json: 'rollout';
      }
    >;
    ai_usage_logs: Table<
      UsageLogRow,
      {
        defaults: 'id' | 'input_tokens' | 'output_tokens' | 'cost_usd' | 'input_cost_usd' | 'ingested_at' | 'prompt_version';
        decimal: 'cost_usd' | 'input_cost_usd';
      }
    >;
    ai_usage_event_keys: Table<{ event_id: string; created_at: Date; received_at: Date }, { defaults: 'received_at' }>;
    simulator_behaviours: Table<
      { model_name: string; latency_ms: number; error_rate: number; updated_by: string; updated_at: Date },
      { defaults: 'updated_at' }
    >;
    usage_retention: Table<
      { id: boolean; dropped_before: Date | null; updated_at: Date },
      { defaults: 'id' | 'dropped_before' | 'updated_at' }
    >;
    rollup_cursors: Table<RollupCursorRow, { defaults: 'last_id' | 'updated_at' }>;
    usage_minute_counts: Table<MinuteCountsRow>;
    prompt_versions: Table<
      PromptVersionTableRow,
      { defaults: 'id' | 'notes' | 'created_at' | 'params' | 'sample_values' | 'variables'; json: 'params' | 'sample_values' }
    >;
    prompt_activations: Table<PromptActivationRow, { defaults: 'id' | 'is_active' | 'activated_at' }>;
    api_keys: Table<ApiKeyTableRow, { defaults: 'id' | 'created_at' }>;
    audit_log: Table<AuditLogRow, { defaults: 'id' | 'occurred_at'; json: 'before' | 'after' }>;
    health_checks: Table<HealthCheckRow, { defaults: 'id' | 'checked_at' }>;
    runtime_config_fetches: Table<RuntimeConfigFetchRow>;
    playground_calls: Table<
      PlaygroundCallRow,
      { defaults: 'id' | 'input_tokens' | 'output_tokens' | 'cost_usd' | 'created_at'; decimal: 'cost_usd' }
    >;
    test_cases: Table<
      TestCaseRow,
      {
        defaults: 'id' | 'assertions' | 'critical' | 'repeats' | 'pass_k' | 'created_at' | 'updated_at' | 'deleted_at';
        json: 'input' | 'assertions';
      }
    >;
    alert_rules: Table<
      AlertRuleRow,
      {
        defaults:
          | 'id'
          | 'window_min'
          | 'for_min'
          | 'min_requests'
          | 'no_data'
          | 'repeat_min'
          | 'severity'
          | 'channel_ids'
          | 'enabled'
          | 'is_default'
          | 'created_at'
          | 'updated_at';
        decimal: 'threshold' | 'resolve_threshold';
      }
    >;
    alerts: Table<AlertRow, { defaults: 'id' | 'state' | 'owes_notice'; decimal: 'last_value' }>;
    alert_events: Table<AlertEventRow, { defaults: 'id'; decimal: 'value' | 'threshold' }>;
    alert_ticks: Table<{ name: string; evaluated_to: Date }>;
    silences: Table<SilenceRow, { defaults: 'id' | 'created_at' }>;
    notification_channels: Table<NotificationChannelRow, { defaults: 'id' | 'enabled' | 'created_at' | 'updated_at' }>;
    notification_deliveries: Table<NotificationDeliveryRow, { defaults: 'id' | 'status' | 'attempts'; json: 'payload' }>;
    budget_marks: Table<BudgetMarkRow>;
    test_runs: Table<
      TestRunRow,
      {
        defaults:
          | 'id'
          | 'purpose'
          | 'status'
          | 'estimate_usd'
          | 'cost_usd'
          | 'cases_total'
          | 'cases_done'
          | 'cases_passed'
          | 'critical_failures'
          | 'resumed'
          | 'created_at';
        decimal: 'estimate_usd' | 'cost_cap_usd' | 'cost_usd' | 'pass_rate';
      }
    >;
    test_run_results: Table<
      TestRunResultRow,
      {
        defaults: 'id' | 'status' | 'attempts' | 'input_tokens' | 'output_tokens' | 'cost_usd';
        json: 'case_snapshot' | 'attempts';
        decimal: 'cost_usd';
      }
    >;
    rollouts: Table<
      RolloutRow,
      {
        defaults:
          | 'id'
          | 'percent_bp'
          | 'stage_idx'
          | 'stage_started_at'
          | 'status'
          | 'breach_since'
          | 'insufficient_since'
          | 'started_at'
          | 'finished_at'
          | 'finished_by'
          | 'updated_at';
        json: 'stages' | 'guard';
      }
    >;
    rollout_decisions: Table<RolloutDecisionRow, { defaults: 'id' | 'evidence' | 'decided_at'; json: 'evidence' }>;
    usage_user_sketches: Table<UserSketchRow>;
  }
}
