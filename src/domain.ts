// The product's vocabulary: the values the schema's CHECK constraints allow (migrations/), each
// listed once, and the few small rules every layer shares. Zod schemas, query filters and the row
// types (src/db/tables.ts) take them from here, so a value added to a constraint is added in one place.

/** Where a feature runs; a promotion goes development → staging → production. */
export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** What a model does; a feature needs one type (SPEC §3). */
export const MODEL_TYPES = ['llm', 'vision', 'embedding'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** A model's statuses (SPEC §3), in the order they are offered. */
export const MODEL_STATUSES = ['available', 'beta', 'deprecated', 'offline'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

export const FEATURE_STATUSES = ['active', 'inactive', 'maintenance'] as const;
export type FeatureStatus = (typeof FEATURE_STATUSES)[number];

/** Over its monthly budget a feature only notifies, or is also flagged `over_budget` in the runtime config (SPEC §10.3). */
export const OVER_BUDGET_ACTIONS = ['notify', 'flag'] as const;
export type OverBudgetAction = (typeof OVER_BUDGET_ACTIONS)[number];

/** 'error' is stored by no code path today; the schema allows it. */
export const PROVIDER_STATUSES = ['active', 'inactive', 'error'] as const;
export type ProviderStatus = (typeof PROVIDER_STATUSES)[number];

/** The simulator is served by the app itself; everything else speaks the OpenAI-compatible HTTP API. */
export const PROVIDER_KINDS = ['openai-compatible', 'simulator'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export const DEPLOYMENT_STATUSES = ['in_progress', 'success', 'failed', 'rolled_back'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** The outcome of one request as the product reports it (usage events). */
export const USAGE_STATUSES = ['success', 'error', 'timeout'] as const;
export type UsageStatus = (typeof USAGE_STATUSES)[number];

/** What an API token may do: send usage, read the console's data, anything an admin can. */
export const TOKEN_SCOPES = ['ingest', 'read', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** What a deployment changes: the model serving an environment, or the prompt version active there. */
export const DEPLOYMENT_SUBJECTS = ['model', 'prompt'] as const;
export type DeploymentSubject = (typeof DEPLOYMENT_SUBJECTS)[number];

/** A prompt version's model parameters (all optional; src/services/prompt-versions.ts validates them). */
export interface PromptParams {
  temperature?: number;
  max_tokens?: number;
  stop?: string[];
}

export const DEPLOYMENT_KINDS = ['assign', 'promote', 'rollback'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

/**
 * A change request in a protected environment: waiting; approved (its pipeline running); how the
 * pipeline ended once approved (applied, refused); or never approved (rejected, expired).
 */
export const CHANGE_REQUEST_STATUSES = ['pending', 'approved', 'applied', 'refused', 'rejected', 'expired'] as const;
export type ChangeRequestStatus = (typeof CHANGE_REQUEST_STATUSES)[number];

/** One step of the deployment pipeline, as stored on its deployment (src/services/deployability.ts makes the first two). */
export interface Check {
  /** render and context: a prompt activation's first checks (src/services/prompt-activation.ts). */
  name: 'model' | 'provider' | 'smoke' | 'render' | 'context' | 'suite';
  ok: boolean;
  detail: string;
  latency_ms?: number;
  /** suite: the run's page (the eval gate, src/services/test-gate.ts). */
  href?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Whether a reference is an id (a uuid, any case): pages and the API take an id or a slug, and no slug may look like an id. */
export const isUuid = (ref: string) => UUID.test(ref);

/** How a stored API key is ever shown back (pages, the API, the audit log): its last 4 characters behind dots; null without a key. */
export const keyHint = (last4: string | null) => (last4 ? `••••${last4}` : null);

// Alerting (issue 17, SPEC §10.4).
/** What an admin's alert rule watches. */
export const RULE_KINDS = [
  'error_rate',
  'p95_latency',
  'traffic_below',
  'provider_health',
  'spend_month',
  'spend_projected',
  'cost_per_request',
] as const;
/** Every alert kind: the rules' and the rollout guard's (issue 18: raised by the guard's actions, never evaluated per minute). */
export const ALERT_KINDS = [...RULE_KINDS, 'rollout_regression'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** An alert's states: ok → pending → firing → recovering → ok (resolved). */
export const ALERT_STATES = ['ok', 'pending', 'firing', 'recovering'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** Below a rule's minimum requests: count as clear, keep the state as it is, or count as a breach. */
export const NO_DATA_POLICIES = ['ok', 'keep', 'alert'] as const;
export type NoDataPolicy = (typeof NO_DATA_POLICIES)[number];

export const CHANNEL_KINDS = ['webhook', 'slack'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export const DELIVERY_STATUSES = ['pending', 'in_flight', 'delivered', 'failed', 'silenced'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const ALERT_EVENT_KINDS = ['transition', 'repeat', 'ack', 'unsilenced', 'budget', 'rollout'] as const;
export type AlertEventKind = (typeof ALERT_EVENT_KINDS)[number];
