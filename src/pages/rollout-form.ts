import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { listModels } from '../db/queries/catalogue.ts';
import { changeRequests } from '../db/queries/change-requests.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { promptVersions } from '../db/queries/prompts.ts';
import type { Environment } from '../domain.ts';
import { isArchived } from '../services/archive.ts';
import { refusal } from '../services/deployability.ts';
import { DEFAULT_GUARD, DEFAULT_STAGES, type RolloutGuard } from '../services/rollout-plan.ts';
import { activeRollout } from '../services/rollouts.ts';

/** The start form's choices: the models that could be the candidate (not the one serving; a refusal known in advance said beside it) and the prompt versions. */
export async function rolloutForm(db: Db, feature: FeatureRow, environment: Environment) {
  const [models, stable, running, versions, requested] = await Promise.all([
    listModels(db),
    activeAssignments(db, { featureId: feature.id, environment }),
    activeRollout(db, feature.id, environment),
    promptVersions(db, feature.id),
    changeRequests(db, { state: 'pending', featureId: feature.id }, 20),
  ]);
  /** Rollout starts asked for here and waiting for another admin (a protected environment). */
  const waiting = requested.filter((r) => r.kind === 'rollout' && r.environment === environment);
  const current = stable.at(0);
  // A candidate prompt is any version but the one active here, newest first.
  const promptOptions = versions
    .filter((v) => !v.active_in.includes(environment))
    .map((v) => [String(v.version), `v${v.version}${v.notes ? ` · ${v.notes}` : ''}`] as const);
  const options = models
    .filter((m) => m.model_type === feature.required_model_type && !isArchived(m) && m.id !== current?.model_id)
    .map((m) => [m.id, m.display_name, refusal(feature, m, environment, null)?.hint ?? undefined] as const);
  const stagesText = DEFAULT_STAGES.map((s) => `${s.percent_bp / 100}%`).join(' → ');
  return {
    feature,
    environment,
    current,
    running,
    waiting,
    options,
    promptOptions,
    stages: DEFAULT_STAGES,
    stagesText,
    guard: DEFAULT_GUARD,
  };
}

/** The form's fields as the service takes them: the default plan with the margins and minutes typed in. */
export function rolloutBodyOfForm(values: Record<string, string | undefined>) {
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  const guard: Partial<Record<keyof RolloutGuard, unknown>> = {
    error_margin_pp: num(values.error_margin_pp),
    p95_margin_pct: num(values.p95_margin_pct),
    cost_margin_pct: num(values.cost_margin_pct),
    for_minutes: num(values.for_minutes),
    on_regression: values.on_regression || undefined,
  };
  return {
    environment: values.environment,
    model_id: values.model_id || undefined,
    prompt_version: values.prompt_version || undefined,
    guard: Object.fromEntries(Object.entries(guard).filter(([, v]) => v !== undefined)),
  };
}
