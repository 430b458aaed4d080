import type { Db } from '../db/knex.ts';
import type { Environment } from '../domain.ts';
import { url } from '../http/urls.ts';
import type { ArmFigures } from '../metrics/rollout-arms.ts';
import { candidateName } from '../services/rollout-candidate.ts';
import { guardNow } from '../services/rollout-tick.ts';
import { activeRollout, type Rollout } from '../services/rollouts.ts';

const armRow = (a: ArmFigures) => ({
  requests: a.requests,
  error_rate_pct: a.requests ? (100 * a.failures) / a.requests : null,
  p95_ms: a.p95_low === null ? null : { low: a.p95_low, high: Number.isFinite(a.p95_high) ? a.p95_high : null },
  cost_per_request_usd: a.requests ? a.cost_usd / a.requests : null,
});

/** A rollout as its page and the API show it: the plan, stable vs candidate on the guard's window, each metric's guard status, the stages and the decision log. */
export async function rolloutView(db: Db, rollout: Rollout, now: Date) {
  const [feature, models, versions, decisions, guard] = await Promise.all([
    db('ai_features').where({ id: rollout.feature_id }).first('name', 'display_name'),
    db('ai_models')
      .whereIn(
        'id',
        [rollout.candidate_model_id, rollout.stable_model_id].filter((v): v is string => v !== null),
      )
      .select('id', 'display_name'),
    db('prompt_versions')
      .whereIn(
        'id',
        [rollout.candidate_prompt_version_id, rollout.stable_prompt_version_id].filter((v): v is string => v !== null),
      )
      .select('id', 'version'),
    db('rollout_decisions').where({ rollout_id: rollout.id }).orderBy('id', 'desc').limit(50),
    guardNow(db, rollout, now),
  ]);
  const nameOf = (id: string | null) => models.find((m) => m.id === id)?.display_name ?? null;
  const versionOf = (id: string | null) => versions.find((v) => v.id === id)?.version ?? null;
  const [candidateVersion, stableVersion] = [versionOf(rollout.candidate_prompt_version_id), versionOf(rollout.stable_prompt_version_id)];
  const { salt: _salt, breach_since, insufficient_since, ...plan } = rollout;
  return {
    ...plan,
    href: url.rollout(rollout.id),
    feature: feature ?? null,
    candidate_model: nameOf(rollout.candidate_model_id),
    stable_model: nameOf(rollout.stable_model_id),
    candidate_prompt_version: candidateVersion,
    stable_prompt_version: stableVersion,
    /** What each arm serves, in words ("GPT-4o mini with prompt v3"); a prompt candidate names the versions on both sides. */
    candidate_label: candidateName({ display_name: nameOf(rollout.candidate_model_id ?? rollout.stable_model_id) ?? '' }, candidateVersion),
    stable_label: candidateName({ display_name: nameOf(rollout.stable_model_id) ?? '' }, candidateVersion ? (stableVersion ?? 0) : null),
    percent: rollout.percent_bp / 100,
    open: rollout.status === 'running' || rollout.status === 'paused',
    /** The next stage's share, what Advance raises to (none past the last stage). */
    advance_to: (rollout.stages.find((s) => s.percent_bp > rollout.percent_bp)?.percent_bp ?? 0) / 100 || undefined,
    stages: rollout.stages.map((s, i) => ({
      ...s,
      percent: s.percent_bp / 100,
      state:
        rollout.status !== 'running' && rollout.status !== 'paused'
          ? 'over'
          : i < rollout.stage_idx
            ? 'done'
            : i === rollout.stage_idx
              ? 'current'
              : 'next',
    })),
    window: { from: guard.from, to: now },
    arms: { stable: armRow(guard.arms.stable), candidate: armRow(guard.arms.candidate) },
    guard_status: { breach_since, insufficient_since, ...guard.verdict },
    decisions: decisions.map((d) => ({ ...d, from: d.from_bp / 100, to: d.to_bp / 100 })),
  };
}

/** The running or paused rollout of a feature in an environment as its Models tab shows it (undefined when none). */
export async function rolloutSummary(db: Db, featureId: string, environment: Environment) {
  const rollout = await activeRollout(db, featureId, environment);
  if (!rollout) return undefined;
  const [model, version] = await Promise.all([
    rollout.candidate_model_id ? db('ai_models').where({ id: rollout.candidate_model_id }).first('display_name') : undefined,
    rollout.candidate_prompt_version_id
      ? db('prompt_versions').where({ id: rollout.candidate_prompt_version_id }).first('version')
      : undefined,
  ]);
  return { id: rollout.id, status: rollout.status, percent: rollout.percent_bp / 100, candidate: candidateName(model, version?.version) };
}
