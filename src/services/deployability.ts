import type { FeatureRow } from '../db/queries/features.ts';
import type { Check, Environment, ModelStatus, ModelType, ProviderKind, ProviderStatus } from '../domain.ts';
import type { CallResult } from '../providers/adapter.ts';

// Whether a model can serve a feature in an environment: the rules the deployment pipeline applies
// before its smoke request, defined once. The pipeline stores them as its first checks, the Models
// tab says them beside each model before anyone tries, and the demo seed writes its history with them.

/** What the rules need of a model and its provider. */
export interface Candidate {
  id: string;
  display_name: string;
  model_type: ModelType;
  status: ModelStatus;
  provider_display_name: string;
  provider_status: ProviderStatus;
  provider_kind: ProviderKind;
  provider_has_key: boolean;
  /** Set when archived (hidden from pickers; the pipeline refuses it too). Lists that never show archived items may leave them out. */
  archived_at?: Date | null;
  provider_archived_at?: Date | null;
}

/** The first rule a model breaks: as the pipeline records it (detail) and as a list beside the model says it (hint). */
export interface Refusal {
  check: 'model' | 'provider';
  detail: string;
  hint: string;
}

/**
 * The first rule, in the pipeline's order, that keeps this model from serving this feature in this
 * environment, or null: it is not already serving there (`current` is the model that is), not
 * offline, not deprecated for production, of the feature's type; its provider is active and has a
 * key (the simulator needs none).
 */
export function refusal(
  feature: Pick<FeatureRow, 'display_name' | 'required_model_type'>,
  model: Candidate,
  environment: Environment,
  current: string | null,
): Refusal | null {
  const m = model.display_name;
  if (current === model.id) return refuse('model', `${m} already serves ${environment}`, `already serves ${environment}`);
  const broken = modelRefusal(model, environment);
  if (broken) return broken;
  if (model.model_type !== feature.required_model_type)
    return refuse(
      'model',
      `${feature.display_name} needs a model of type ${feature.required_model_type}; ${m} is of type ${model.model_type}`,
      `not of type ${feature.required_model_type}`,
    );
  return providerRefusal(model);
}

const refuse = (check: Refusal['check'], detail: string, hint = detail): Refusal => ({ check, detail, hint });

/** The model's own state: archived or offline anywhere, deprecated in production. */
function modelRefusal(model: Omit<Candidate, 'model_type'>, environment: Environment): Refusal | null {
  const m = model.display_name;
  if (model.archived_at) return refuse('model', `${m} is archived: unarchive it first`, 'archived: unarchive it first');
  if (model.status === 'offline') return refuse('model', `${m} is offline and cannot be assigned`, 'offline');
  if (model.status === 'deprecated' && environment === 'production')
    return refuse('model', `${m} is deprecated and cannot be assigned in production`, 'deprecated: not for production');
  return null;
}

/** The provider's state: not archived, active, and with a key unless it is the simulator. */
function providerRefusal(model: Omit<Candidate, 'model_type'>): Refusal | null {
  const p = model.provider_display_name;
  if (model.provider_archived_at) return refuse('provider', `${p} is archived: unarchive it first`);
  if (model.provider_status !== 'active') return refuse('provider', `${p} is ${model.provider_status}`);
  if (model.provider_kind !== 'simulator' && !model.provider_has_key) return refuse('provider', `${p} has no API key`);
  return null;
}

/** What the model's and its provider's state refuse in this environment, whatever the feature (the rules less the feature's type). */
export const standingRefusal = (model: Omit<Candidate, 'model_type'>, environment: Environment): Refusal | null =>
  modelRefusal(model, environment) ?? providerRefusal(model);

/** A provider's latest probe or connection test and, while they keep failing, when the failures began. */
export interface LastProbe {
  ok: boolean;
  error: string | null;
  checked_at: Date;
  failing_since: Date | null;
}

/** A provider whose last probe failed: since when it has not answered, and why; null while it answers or before its first probe. */
export const unreachable = (probe: LastProbe | null) =>
  probe && !probe.ok ? { since: probe.failing_since ?? probe.checked_at, error: probe.error ?? 'no detail' } : null;

/**
 * Why a model that serves an environment cannot answer there now, or null while it can: a rule the
 * pipeline would refuse it for today (offline, deprecated in production, provider inactive or
 * keyless), else its provider's failed last probe (which also reports a stored key that no longer
 * decrypts). The warnings of the overview, the feature cards and the Models tab all say this.
 */
export function servingProblem(model: Omit<Candidate, 'model_type'>, environment: Environment, probe: LastProbe | null): string | null {
  const broken = standingRefusal(model, environment);
  if (broken) return broken.detail;
  if (probe && !probe.ok) return `${model.provider_display_name} did not answer its last probe: ${probe.error ?? 'no detail'}`;
  return null;
}

/** The checks that need no network, as the pipeline stores them: the model fits the feature and the environment, its provider can serve. */
export function deployability(
  feature: Pick<FeatureRow, 'display_name' | 'required_model_type'>,
  model: Candidate,
  environment: Environment,
  current: string | null,
): Check[] {
  const refused = refusal(feature, model, environment, current);
  if (refused?.check === 'model') return [{ name: 'model', ok: false, detail: refused.detail }];
  return [
    {
      name: 'model',
      ok: true,
      detail: `${model.display_name} is ${model.status} and of the type the feature needs (${feature.required_model_type})`,
    },
    refused
      ? { name: 'provider', ok: false, detail: refused.detail }
      : { name: 'provider', ok: true, detail: `${model.provider_display_name} is active` },
  ];
}

/** The live check: the smoke request's answer as the pipeline stores it. */
export const smokeCheck = (smoke: CallResult): Check => ({
  name: 'smoke',
  ok: smoke.ok,
  detail: smoke.ok ? `answered in ${smoke.latencyMs} ms` : `smoke request failed: ${smoke.error}`,
  latency_ms: smoke.latencyMs,
});
