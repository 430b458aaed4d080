// The rows of the tables tests write and read, as knex hands them back here (numeric and int8
// columns come back as numbers: src/db/knex.ts sets the parsers). Tests type their queries with
// these instead of `any`.

export type Environment = 'development' | 'staging' | 'production';
export type ModelType = 'llm' | 'vision' | 'embedding';

export interface ProviderRecord {
  id: string;
  name: string;
  display_name: string;
  kind: 'openai-compatible' | 'simulator';
  base_url: string | null;
  api_key_ciphertext: Buffer | null;
  api_key_last4: string | null;
  status: 'active' | 'inactive' | 'error';
  created_at: Date;
  updated_at: Date;
}

export interface ModelRecord {
  id: string;
  provider_id: string;
  name: string;
  display_name: string;
  model_type: ModelType;
  status: 'available' | 'beta' | 'deprecated' | 'offline';
  input_price_per_1k: number;
  output_price_per_1k: number;
  context_window: number | null;
  created_at: Date;
  updated_at: Date;
}

export interface FeatureRecord {
  id: string;
  name: string;
  display_name: string;
  description: string;
  status: 'active' | 'inactive' | 'maintenance';
  required_model_type: ModelType;
  error_rate_threshold: number;
  latency_threshold_ms: number;
  monthly_budget_usd: number | null;
  created_at: Date;
  updated_at: Date;
}

export interface AssignmentRecord {
  id: string;
  feature_id: string;
  model_id: string;
  environment: Environment;
  is_active: boolean;
  assigned_at: Date;
  assigned_by: string;
  deactivated_at: Date | null;
  config_overrides: Record<string, unknown>;
}

export interface DeploymentCheck {
  name: 'model' | 'provider' | 'smoke';
  ok: boolean;
  detail: string;
  latency_ms?: number;
}

export interface DeploymentRecord {
  id: string;
  feature_id: string;
  model_id: string;
  previous_model_id: string | null;
  environment: Environment;
  kind: 'assign' | 'promote' | 'rollback';
  status: 'in_progress' | 'success' | 'failed' | 'rolled_back';
  requested_by: string;
  assignment_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  checks: DeploymentCheck[];
  error: string | null;
}

export interface AuditRecord {
  id: number;
  occurred_at: Date;
  actor_type: 'user' | 'token' | 'system';
  actor_id: string | null;
  actor_label: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface HealthCheckRecord {
  id: number;
  provider_id: string;
  model_id: string | null;
  kind: 'probe' | 'smoke' | 'manual';
  status: 'ok' | 'error';
  latency_ms: number | null;
  error: string | null;
  checked_at: Date;
}

/** A JSON body as the tests send it or read it back: fields looked at one by one. */
export type Json = Record<string, unknown>;
