import type { Knex } from 'knex';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import { ENVIRONMENTS, type Environment } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import { url } from '../http/urls.ts';
import { fieldErrors } from '../http/validation.ts';
import type { Providers } from '../providers/index.ts';
import type { Actor } from './audit.ts';
import { recordRolloutDecision, resolveRolloutAlert, rolloutRule } from './rollout-alerts.ts';
import { candidateName, candidateStartChecks, plannedCandidate, switchToCandidate } from './rollout-candidate.ts';
import { DEFAULT_GUARD, DEFAULT_STAGES, newSalt } from './rollout-plan.ts';
import { forgetActiveRollouts } from './rollout-variant.ts';

export type Rollout = Row<'rollouts'>;
const ACTIVE = ['running', 'paused'] as const;

const stageSchema = z.object({
  percent_bp: z.number().int().min(1).max(10000),
  min_minutes: z.number().int().min(0).max(1440),
  min_requests_per_arm: z.number().int().min(0),
});
export const startSchema = z.object({
  environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` }),
  model_id: z.uuid({ message: 'must be the id of a model' }).optional(),
  prompt_version: z.coerce
    .number({ message: 'must be a version number' })
    .int('must be a version number')
    .positive('must be a version number')
    .optional(),
  stages: z
    .array(stageSchema)
    .min(1)
    .refine((s) => s.every((x, i) => i === 0 || x.percent_bp > s[i - 1].percent_bp), { message: 'must rise stage by stage' })
    .optional(),
  guard: z
    .object({
      error_margin_pp: z.number().min(0).max(100),
      p95_margin_pct: z.number().min(0),
      cost_margin_pct: z.number().min(0),
      for_minutes: z.number().int().min(1).max(1440),
      on_regression: z.enum(['rollback', 'pause']),
      on_insufficient: z.enum(['hold', 'pause']),
      max_wait_minutes: z.number().int().min(1),
    })
    .partial()
    .optional(),
});

/** The running or paused rollout of a feature in an environment, if any. */
export const activeRollout = (db: Db, featureId: string, environment: Environment): Promise<Rollout | undefined> =>
  db('rollouts').where({ feature_id: featureId, environment }).whereIn('status', ACTIVE).first();

/** Refuses (409, with a link) any other model or prompt change in an environment where a rollout runs. */
export async function refuseDuringRollout(db: Db, feature: FeatureRow, environment: unknown): Promise<void> {
  if (!ENVIRONMENTS.includes(environment as Environment)) return;
  const rollout = await activeRollout(db, feature.id, environment as Environment);
  if (rollout)
    throw new Refusal(
      409,
      `A rollout is ${rollout.status} in ${rollout.environment}: complete or abort it first (${url.rollout(rollout.id)})`,
      {},
      { rollout_id: rollout.id, href: url.rollout(rollout.id) },
    );
}

/**
 * Starts a rollout of a candidate model and/or prompt version after the same checks as a deployment
 * (the eval gate included); its first stage begins at once with a new salt. 422 when a check refuses,
 * 409 when one runs. In a protected environment it is asked for through startOrRequest (./change-requests.ts).
 */
export async function startRollout(db: Db, providers: Providers, actor: Actor, feature: FeatureRow, input: unknown): Promise<Rollout> {
  const parsed = startSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'Invalid rollout', fieldErrors(parsed.error));
  const { environment } = parsed.data;
  await refuseDuringRollout(db, feature, environment);
  const plan = await plannedCandidate(db, feature, environment, parsed.data);
  const checks = await candidateStartChecks(db, providers, actor, feature, environment, plan);
  const failed = checks.find((c) => !c.ok);
  if (failed) throw new Refusal(422, failed.detail, { [plan.model ? 'model_id' : 'prompt_version']: failed.detail }, { checks });
  const stages = parsed.data.stages ?? DEFAULT_STAGES;
  const started = await db.transaction(async (trx) => {
    await trx('ai_features').where({ id: feature.id }).forUpdate().first('id');
    await refuseDuringRollout(trx, feature, environment);
    const [rollout] = await trx('rollouts')
      .insert({
        feature_id: feature.id,
        environment,
        candidate_model_id: plan.model?.id ?? null,
        candidate_prompt_version_id: plan.version?.id ?? null,
        stable_model_id: plan.stableModelId,
        stable_prompt_version_id: plan.stablePrompt?.id ?? null,
        salt: newSalt(),
        percent_bp: stages[0].percent_bp,
        stages: JSON.stringify(stages),
        guard: JSON.stringify({ ...DEFAULT_GUARD, ...parsed.data.guard }),
        started_by: actor.label,
      })
      .returning('*');
    await recordRolloutDecision(trx, actor, rollout, {
      action: 'start',
      automatic: false,
      fromBp: 0,
      toBp: rollout.percent_bp,
      explanation: `started: ${candidateName(plan.model, plan.version?.version)} to ${rollout.percent_bp / 100}% of ${environment}, checks passed`,
      evidence: { checks },
    });
    await rolloutRule(trx, feature.id);
    await resolveRolloutAlert(trx, actor, rollout, `a new rollout started in ${environment}`, new Date());
    return rollout;
  });
  forgetActiveRollouts(); // this instance sees it at once (rollout-variant.ts)
  return started;
}

type RolloutPatch = Partial<
  Pick<Rollout, 'status' | 'percent_bp' | 'stage_idx' | 'breach_since' | 'insufficient_since' | 'finished_by'>
> & {
  stage_started_at?: Knex.Raw;
  finished_at?: Knex.Raw;
};

export type RolloutAction = 'percent' | 'pause' | 'resume' | 'rollback' | 'abort';
const percentSchema = z.object({ percent: z.coerce.number().gt(0).max(100) });

/** The stage a share falls in: the last whose share it reached. */
export const stageOf = (rollout: Pick<Rollout, 'stages'>, bp: number) =>
  Math.max(0, rollout.stages.filter((s) => s.percent_bp <= bp).length - 1);

/** A person's change to a running or paused rollout, the row locked; audited with a decision. Ramps only rise. */
export async function changeRollout(db: Db, actor: Actor, id: string, action: RolloutAction, input: unknown = {}): Promise<Rollout> {
  const changed = await db.transaction(async (trx) => {
    const rollout = await trx('rollouts').where({ id }).forUpdate().first();
    if (!rollout) throw new Refusal(422, 'No such rollout');
    if (!ACTIVE.includes(rollout.status as (typeof ACTIVE)[number]))
      throw new Refusal(409, `The rollout is ${rollout.status.replace('_', ' ')}`);
    const now = trx.raw('clock_timestamp()');
    let patch: RolloutPatch;
    let explanation: string;
    if (action === 'percent') {
      const parsed = percentSchema.safeParse(input);
      if (!parsed.success) throw new Refusal(422, 'Invalid share', fieldErrors(parsed.error));
      const bp = Math.round(parsed.data.percent * 100);
      if (bp <= rollout.percent_bp)
        throw new Refusal(422, 'Invalid share', {
          percent: `must be above ${rollout.percent_bp / 100}%: a ramp only rises (roll back instead)`,
        });
      patch = { percent_bp: bp, stage_idx: stageOf(rollout, bp), stage_started_at: now, breach_since: null, insufficient_since: null };
      explanation = `raised to ${bp / 100}%`;
    } else if (action === 'pause') {
      if (rollout.status === 'paused') throw new Refusal(409, 'The rollout is paused already');
      patch = { status: 'paused' };
      explanation = `paused at ${rollout.percent_bp / 100}%`;
    } else if (action === 'resume') {
      if (rollout.status === 'running') throw new Refusal(409, 'The rollout is running already');
      patch = { status: 'running', stage_started_at: now, breach_since: null, insufficient_since: null };
      explanation = `resumed at ${rollout.percent_bp / 100}%`;
    } else {
      patch = { status: action === 'rollback' ? 'rolled_back' : 'aborted', percent_bp: 0, finished_at: now, finished_by: actor.label };
      explanation = `${action === 'rollback' ? 'rolled back' : 'aborted'}: everyone back on stable`;
    }
    const [next] = await trx('rollouts')
      .where({ id })
      .update({ ...patch, updated_at: now })
      .returning('*');
    await recordRolloutDecision(trx, actor, next, {
      action,
      automatic: false,
      fromBp: rollout.percent_bp,
      toBp: next.percent_bp,
      explanation,
    });
    if (action !== 'percent' && action !== 'pause') await resolveRolloutAlert(trx, actor, next, explanation, new Date());
    return next;
  });
  forgetActiveRollouts(); // this instance sees it at once (rollout-variant.ts)
  return changed;
}

const COMPLETED = 'completed: the candidate now serves everyone';

/**
 * Completes a rollout: the candidate model becomes the environment's assignment and the candidate
 * prompt its active version, through the pipeline (`promote`, the checks run again); only when they
 * switched is the rollout completed.
 */
export async function completeRollout(db: Db, providers: Providers, actor: Actor, feature: FeatureRow, rollout: Rollout) {
  if (!ACTIVE.includes(rollout.status as (typeof ACTIVE)[number]))
    throw new Refusal(409, `The rollout is ${rollout.status.replace('_', ' ')}`);
  const deployments = await switchToCandidate(db, providers, actor, feature, rollout);
  const completed = await db.transaction(async (trx) => {
    const [done] = await trx('rollouts')
      .where({ id: rollout.id })
      .whereIn('status', ACTIVE)
      .update({
        status: 'completed',
        percent_bp: 10000,
        finished_at: trx.raw('clock_timestamp()'),
        finished_by: actor.label,
        updated_at: trx.raw('clock_timestamp()'),
      })
      .returning('*');
    if (!done) throw new Refusal(409, 'The rollout changed meanwhile');
    await recordRolloutDecision(trx, actor, done, {
      action: 'complete',
      automatic: false,
      fromBp: rollout.percent_bp,
      toBp: 10000,
      explanation: COMPLETED,
      evidence: { deployment_ids: deployments },
    });
    await resolveRolloutAlert(trx, actor, done, COMPLETED, new Date());
    return done;
  });
  forgetActiveRollouts(); // this instance sees it at once (rollout-variant.ts)
  return completed;
}
