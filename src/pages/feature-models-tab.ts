import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { listModels } from '../db/queries/catalogue.ts';
import { changeRequests } from '../db/queries/change-requests.ts';
import { assignmentHistory, type FeatureRow, withAssignments } from '../db/queries/features.ts';
import { ENVIRONMENTS, type Environment } from '../domain.ts';
import { inSnapshot, sumsByScope } from '../metrics/queries.ts';
import { windowOf } from '../metrics/ranges.ts';
import { modelSummaries } from '../metrics/summaries.ts';
import { isArchived } from '../services/archive.ts';
import { environmentPolicies } from '../services/change-requests.ts';
import { refusal } from '../services/deployability.ts';

/** The environment a promotion from each one goes to. */
export const NEXT_ENVIRONMENT: Partial<Record<Environment, Environment>> = { development: 'staging', staging: 'production' };

/** A feature's tokens over the last 30 days priced at a model's list prices: what it would have cost there. */
const priced = (tokens: { input: number; output: number }, m: { input_price_per_1k: number; output_price_per_1k: number }) =>
  (tokens.input * Number(m.input_price_per_1k) + tokens.output * Number(m.output_price_per_1k)) / 1000;

/**
 * The Models tab: what serves each environment, the models that could serve the chosen one (with
 * their last 24 hours and the what-if cost of this feature's last 30 days of tokens at their prices),
 * the history, and what promotion and rollback would do.
 */
export async function featureModelsTab(db: Db, feature: FeatureRow, environment: Environment, now: Date) {
  const [assignments, history, models, policies, pending] = await Promise.all([
    activeAssignments(db),
    assignmentHistory(db, feature.id),
    listModels(db),
    environmentPolicies(db),
    changeRequests(db, { state: 'pending', featureId: feature.id }, 50),
  ]);
  const byEnvironment = withAssignments([feature], assignments)[0].assignments;
  const next = NEXT_ENVIRONMENT[environment];
  const current = byEnvironment[environment];
  // Archived models are not offered (what serves cannot be archived, so the current model stays).
  const candidates = models.filter((m) => m.model_type === feature.required_model_type && !isArchived(m));
  const [metrics, usage] = await Promise.all([
    modelSummaries(
      db,
      candidates.map((m) => m.id),
      '24h',
      now,
    ),
    inSnapshot(db, (s) => sumsByScope(s, 'feature', [feature.id], windowOf('30d', now))),
  ]);
  const sums = usage.get(feature.id);
  const tokens = { input: sums?.input_tokens ?? 0, output: sums?.output_tokens ?? 0 };
  const currentModel = candidates.find((m) => m.id === current?.model_id);
  const modelsById = new Map(models.map((m) => [m.id, m]));
  // Why the pipeline would refuse this model here anyway (known before trying), as an action beside it says.
  const blockedBy = (modelId: string | undefined, where: Environment) => {
    const model = modelId === undefined ? undefined : modelsById.get(modelId);
    if (model && isArchived(model)) return `${model.display_name} is archived: unarchive it first`;
    return model && refusal(feature, model, where, null)?.detail;
  };
  const currentCost = currentModel ? priced(tokens, currentModel) : null;
  const changeFromCurrent = (cost: number) => (currentCost ? ((cost - currentCost) / currentCost) * 100 : null);
  const rows = candidates.map((m) => {
    const refused = refusal(feature, m, environment, null);
    return {
      ...m,
      metrics: metrics.get(m.id)!,
      whatIf: priced(tokens, m),
      whatIfChange: m.id === current?.model_id ? null : changeFromCurrent(priced(tokens, m)),
      isCurrent: m.id === current?.model_id,
      // What the pipeline would refuse anyway, said before the admin tries (and then no green status beside it).
      unusable: refused?.hint ?? null,
      statusBadge: refused ? 'badge' : `badge model-${m.status}`,
    };
  });
  const promoteTo = next && byEnvironment[next]?.model_id !== current?.model_id ? next : undefined;
  return {
    environment,
    byEnvironment,
    current,
    tokens,
    currentCost,
    candidates: rows,
    currentCandidate: rows.find((m) => m.isCurrent),
    // Rolling back goes to an earlier assignment, never to the model that serves now.
    history: history
      .filter((h) => h.environment === environment)
      .map((h) => {
        const canRollBack = !h.is_active && h.model_id !== current?.model_id;
        return { ...h, canRollBack, blockedBy: canRollBack ? blockedBy(h.model_id, environment) : undefined };
      }),
    promoteTo,
    promoteBlockedBy: promoteTo && blockedBy(current?.model_id, promoteTo),
    environments: ENVIRONMENTS,
    /** Protected environments (issue 14): a change here, or a promotion into the next, waits for another admin. */
    protectedHere: policies[environment]?.requires_approval ?? false,
    protectedNext: (promoteTo && policies[promoteTo]?.requires_approval) ?? false,
    // Model changes only: prompt activations wait on the Prompts tab.
    pendingRequests: pending.filter((r) => r.prompt_version === null),
  };
}
