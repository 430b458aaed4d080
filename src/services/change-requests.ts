import type { Principal } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { NewRow, Row } from '../db/tables.ts';
import { type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { forbidden, HttpError, Refusal } from '../http/errors.ts';
import type { Providers } from '../providers/index.ts';
import { type Actor, recordAudit } from './audit.ts';
import { type DeployOutcome, deploy, deployRequestSchema, plannedChange } from './deployments.ts';
import { activatePrompt, type PromptOutcome, plannedActivation } from './prompt-activation.ts';
import { candidateName, plannedCandidate } from './rollout-candidate.ts';
import { DEFAULT_STAGES } from './rollout-plan.ts';
import { type Rollout, refuseDuringRollout, startRollout, startSchema } from './rollouts.ts';

// Protected environments (issue 14, SPEC §10.3): where an environment's policy asks for a second
// admin's approval, a model change (assignment, promotion, rollback) is filed as a change request
// instead of applied. Another admin approves it (the deployment pipeline then runs, with every check)
// or rejects it; the requester cannot decide their own; a request not decided in time expires.
// API tokens are bound by the same policy: their change becomes a request like anyone's.

export type ChangeRequest = Row<'change_requests'>;

/** How long a request waits for a decision. */
export const REQUEST_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** Each environment's policy; an environment never set is not protected. */
export async function environmentPolicies(db: Db): Promise<Record<Environment, Row<'environment_policies'> | undefined>> {
  const rows = await db('environment_policies').select('*');
  return Object.fromEntries(ENVIRONMENTS.map((e) => [e, rows.find((r) => r.environment === e)])) as Record<
    Environment,
    Row<'environment_policies'> | undefined
  >;
}

export async function requiresApproval(db: Db, environment: Environment): Promise<boolean> {
  return (await db('environment_policies').where({ environment }).first('requires_approval'))?.requires_approval ?? false;
}

/** Turns an environment's approval policy on or off; audited, and an unchanged policy writes nothing. */
export async function setEnvironmentPolicy(db: Db, actor: Actor, environment: Environment, requires: boolean): Promise<boolean> {
  return db.transaction(async (trx) => {
    const was = await trx('environment_policies').where({ environment }).forUpdate().first('requires_approval');
    if ((was?.requires_approval ?? false) === requires) return false;
    await trx('environment_policies')
      .insert({ environment, requires_approval: requires, updated_by: actor.label })
      .onConflict('environment')
      .merge({ requires_approval: requires, updated_by: actor.label, updated_at: trx.fn.now() });
    await recordAudit(trx, actor, {
      action: 'environment.policy_changed',
      entityType: 'environment',
      before: { environment, requires_approval: was?.requires_approval ?? false },
      after: { environment, requires_approval: requires },
    });
    return true;
  });
}

export type ChangeOutcome = { applied: DeployOutcome } | { requested: ChangeRequest };

/**
 * A model change as the console and the API ask for it: deployed at once, or — in a protected
 * environment — checked against the rules known in advance and filed as a change request.
 */
export async function deployOrRequest(
  db: Db,
  providers: Providers,
  principal: Principal,
  feature: FeatureRow,
  input: unknown,
  kind: DeploymentKind,
  now: Date,
): Promise<ChangeOutcome> {
  const parsed = deployRequestSchema.safeParse(input);
  if (parsed.success) await refuseDuringRollout(db, feature, parsed.data.environment);
  // Unprotected (or invalid: deploy() says what is wrong): the pipeline runs now and records its checks.
  if (!parsed.success || !(await requiresApproval(db, parsed.data.environment)))
    return { applied: await deploy(db, providers, principal, feature, input, kind) };
  const change = await plannedChange(db, feature, parsed.data);
  const request = await fileRequest(db, principal, feature, now, {
    environment: change.environment,
    kind,
    model_id: change.model_id,
    previous_model_id: change.previous,
  });
  return { requested: request };
}

type RequestFields = Pick<NewRow<'change_requests'>, 'environment' | 'kind' | 'model_id' | 'previous_model_id'> &
  Partial<Pick<NewRow<'change_requests'>, 'prompt_version_id' | 'previous_prompt_version_id' | 'reason' | 'rollout'>>;

/** Files a change request in the requester's name, expiring after REQUEST_LIFETIME_MS; audited in the same transaction. */
async function fileRequest(db: Db, principal: Principal, feature: FeatureRow, now: Date, fields: RequestFields): Promise<ChangeRequest> {
  return db.transaction(async (trx) => {
    const [request] = await trx('change_requests')
      .insert({
        feature_id: feature.id,
        ...fields,
        requested_by_kind: principal.kind,
        requested_by_id: principal.id,
        requested_by: principal.label,
        requested_at: now,
        expires_at: new Date(now.getTime() + REQUEST_LIFETIME_MS),
      })
      .returning('*');
    const { environment, kind, model_id, prompt_version_id } = fields;
    await recordAudit(trx, principal, {
      action: 'change_request.created',
      entityType: 'feature',
      entityId: feature.id,
      after: { change_request_id: request.id, environment, kind, ...(prompt_version_id ? { prompt_version_id } : { model_id }) },
    });
    return request;
  });
}

export type ActivationOutcome = { applied: PromptOutcome } | { requested: ChangeRequest };

/**
 * A prompt activation as the console and the API ask for it (issue 15): the pipeline runs at once, or
 * — in a protected environment — what can be known in advance is checked and a change request filed.
 */
export async function activateOrRequest(
  db: Db,
  providers: Providers,
  principal: Principal,
  feature: FeatureRow,
  input: unknown,
  now: Date,
  kind?: DeploymentKind,
): Promise<ActivationOutcome> {
  const plan = await plannedActivation(db, feature, input, kind);
  await refuseDuringRollout(db, feature, plan.environment);
  if (!(await requiresApproval(db, plan.environment))) return { applied: await activatePrompt(db, providers, principal, feature, plan) };
  const request = await fileRequest(db, principal, feature, now, {
    environment: plan.environment,
    kind: plan.kind,
    model_id: plan.modelId,
    previous_model_id: plan.modelId,
    prompt_version_id: plan.version.id,
    previous_prompt_version_id: plan.previous,
    reason: plan.reason,
  });
  return { requested: request };
}

export type StartOutcome = { started: Rollout } | { requested: ChangeRequest };

/**
 * A rollout start as the console and the API ask for it (issue 18): started at once, or — in a
 * protected environment — what can be known in advance checked (the candidate, nothing running there)
 * and a change request filed, "Start rollout of … at 1%"; the deployment checks run when it is approved.
 */
export async function startOrRequest(
  db: Db,
  providers: Providers,
  principal: Principal,
  feature: FeatureRow,
  input: unknown,
  now: Date,
): Promise<StartOutcome> {
  const parsed = startSchema.safeParse(input);
  if (!parsed.success || !(await requiresApproval(db, parsed.data.environment)))
    return { started: await startRollout(db, providers, principal, feature, input) };
  const { environment } = parsed.data;
  await refuseDuringRollout(db, feature, environment);
  const plan = await plannedCandidate(db, feature, environment, parsed.data);
  const first = (parsed.data.stages ?? DEFAULT_STAGES)[0].percent_bp / 100;
  const request = await fileRequest(db, principal, feature, now, {
    environment,
    kind: 'rollout',
    model_id: plan.model?.id ?? plan.stableModelId,
    previous_model_id: plan.stableModelId,
    prompt_version_id: plan.version?.id ?? null,
    previous_prompt_version_id: plan.stablePrompt?.id ?? null,
    reason: `Start rollout of ${candidateName(plan.model, plan.version?.version)} at ${first}%`,
    rollout: JSON.stringify(parsed.data),
  });
  return { requested: request };
}

/** What the console says when a change became a request. */
export const requestedMessage = (environment: string) =>
  `${environment} is protected: your change waits for another admin’s approval on the Approvals page. Nothing has changed yet.`;

/** What the console says once an approval ran the change: applied, or refused by its checks and why. */
export function approvedMessage(o: DeployOutcome | PromptOutcome | RolloutOutcome): string {
  if (!o.deployment)
    return o.ok
      ? `Approved: every check passed and the rollout runs at ${o.rollout!.percent_bp / 100}% of ${o.rollout!.environment} now.`
      : `Approved, but the checks refused the rollout: ${o.error}`;
  const what = o.deployment.subject === 'prompt' ? 'the new prompt version is active in' : 'the new model serves';
  return o.ok
    ? `Approved: every check passed and ${what} ${o.deployment.environment} now.`
    : `Approved, but the deployment pipeline refused it: ${o.deployment.error}`;
}

/** Locks a pending request for a decision, or says why it cannot be decided. */
async function pendingForDecision(trx: Db, principal: Principal, id: string, now: Date): Promise<ChangeRequest> {
  if (principal.kind !== 'user') throw forbidden('A change request is approved or rejected by a signed-in admin, not by an API token');
  const request = await trx('change_requests').where({ id }).forUpdate().first();
  if (!request) throw new HttpError(404, 'Change request not found');
  if (request.status !== 'pending') throw new Refusal(409, `This change request is already ${request.status}`);
  if (request.expires_at <= now) throw new Refusal(409, 'This change request has expired; ask for the change again');
  return request;
}

/**
 * A second admin approves: the deployment pipeline runs the change with every check (as the approver,
 * on the requester's behalf). A request planned against an assignment that has moved since is refused.
 */
export async function approveChangeRequest(
  db: Db,
  providers: Providers,
  principal: Principal,
  id: string,
  now: Date,
): Promise<{ request: ChangeRequest; outcome: DeployOutcome | PromptOutcome | RolloutOutcome }> {
  const request = await db.transaction(async (trx) => {
    const r = await pendingForDecision(trx, principal, id, now);
    if (r.requested_by_kind === principal.kind && r.requested_by_id === principal.id)
      throw new Refusal(409, 'You asked for this change: another admin must approve it');
    const serving = await trx('feature_model_assignments')
      .where({ feature_id: r.feature_id, environment: r.environment, is_active: true })
      .first('model_id');
    const prompt = await trx('prompt_activations')
      .where({ feature_id: r.feature_id, environment: r.environment, is_active: true })
      .first('prompt_version_id');
    const moved = r.prompt_version_id !== null && (prompt?.prompt_version_id ?? null) !== r.previous_prompt_version_id;
    if ((serving?.model_id ?? null) !== r.previous_model_id || moved)
      throw new Refusal(409, `What serves ${r.environment} has changed since this was asked for; reject it and ask again`);
    // Taken out of pending at once, so a second approval cannot run the pipeline twice.
    const [taken] = await trx('change_requests')
      .where({ id })
      .update({ status: 'approved', decided_by_id: principal.id, decided_by: principal.label, decided_at: now })
      .returning('*');
    return taken;
  });
  const feature = await db('ai_features').where({ id: request.feature_id }).first();
  const actor: Actor = { ...principal, label: `${principal.label} (approving ${request.requested_by})` };
  let outcome: DeployOutcome | PromptOutcome | RolloutOutcome;
  try {
    outcome = await applyApproved(db, providers, actor, feature!, request);
  } catch (err) {
    // The pipeline could not run it (its own refusal before any deployment, or an unexpected error):
    // the request waits again, undecided, rather than staying "approved" with nothing applied.
    await db('change_requests')
      .where({ id, status: 'approved' })
      .update({ status: 'pending', decided_by_id: null, decided_by: null, decided_at: null });
    throw err;
  }
  const [done] = await db('change_requests')
    .where({ id })
    .update({ status: outcome.ok ? 'applied' : 'refused', ...outcomeColumns(outcome) })
    .returning('*');
  await recordAudit(db, principal, {
    action: 'change_request.approved',
    entityType: 'feature',
    entityId: request.feature_id,
    after: { change_request_id: id, ...outcomeColumns(outcome), applied: outcome.ok },
  });
  return { request: done, outcome };
}

/** An approved rollout request's outcome: started, or refused by the checks run again (422) with why. */
export type RolloutOutcome = { ok: boolean; status: 201 | 422; rollout: Rollout | null; error: string | null; deployment?: undefined };

const outcomeColumns = (o: DeployOutcome | PromptOutcome | RolloutOutcome) =>
  o.deployment ? { deployment_id: o.deployment.id } : { rollout_id: o.rollout?.id ?? null, decision_note: o.error };

/**
 * Runs an approved request: a model change, a prompt activation (planned again: the version may have
 * become active meanwhile), or a rollout start with every check run again (a 422 then refuses the request).
 */
async function applyApproved(db: Db, providers: Providers, actor: Actor, feature: FeatureRow, r: ChangeRequest) {
  if (r.kind === 'rollout') {
    try {
      return { ok: true, status: 201, rollout: await startRollout(db, providers, actor, feature, r.rollout), error: null } as const;
    } catch (err) {
      if (err instanceof Refusal && err.status === 422) return { ok: false, status: 422, rollout: null, error: err.reasons } as const;
      throw err;
    }
  }
  if (r.prompt_version_id === null)
    return deploy(db, providers, actor, feature, { model_id: r.model_id, environment: r.environment }, r.kind);
  const version = await db('prompt_versions').where({ id: r.prompt_version_id }).first('version');
  const plan = await plannedActivation(db, feature, { version: version!.version, environment: r.environment, reason: r.reason }, r.kind);
  return activatePrompt(db, providers, actor, feature, plan);
}

/** A second admin rejects: nothing changes but the request, which keeps who decided and why. */
export async function rejectChangeRequest(db: Db, principal: Principal, id: string, note: string, now: Date): Promise<ChangeRequest> {
  return db.transaction(async (trx) => {
    const r = await pendingForDecision(trx, principal, id, now);
    const [done] = await trx('change_requests')
      .where({ id })
      .update({
        status: 'rejected',
        decided_by_id: principal.id,
        decided_by: principal.label,
        decided_at: now,
        decision_note: note || null,
      })
      .returning('*');
    await recordAudit(trx, principal, {
      action: 'change_request.rejected',
      entityType: 'feature',
      entityId: r.feature_id,
      after: { change_request_id: id, note: note || undefined },
    });
    return done;
  });
}

/** Every minute (once across instances: each row changes once): requests not decided in time expire, audited. */
export async function expireChangeRequests(db: Db, now: Date): Promise<number> {
  return db.transaction(async (trx) => {
    const expired = await trx('change_requests')
      .where({ status: 'pending' })
      .where('expires_at', '<=', now)
      .update({ status: 'expired', decided_at: now, decided_by: 'system' })
      .returning(['id', 'feature_id']);
    for (const r of expired)
      await recordAudit(trx, SYSTEM, {
        action: 'change_request.expired',
        entityType: 'feature',
        entityId: r.feature_id,
        after: { change_request_id: r.id },
      });
    return expired.length;
  });
}

const SYSTEM: Actor = { kind: 'system', label: 'system' };
