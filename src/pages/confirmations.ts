import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { findModel } from '../db/queries/catalogue.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { DeploymentKind, Environment } from '../domain.ts';
import type { ApiKeyRow } from '../services/api-keys.ts';

// Issue 13 item 9: a change to production, any rollback and a key's revocation take a second step
// from the HTML forms. The first post shows what will change; the same fields posted again with
// confirm=yes act. Nothing is written before that. (The JSON API acts at once.)

/** What a confirmation view shows and re-posts. */
export interface Confirmation {
  /** The heading: what happens when confirmed. */
  title: string;
  /** Each fact that changes, as label and words. */
  facts: [string, string][];
  /** A consequence the admin should weigh, or undefined. */
  warning?: string;
  /** Where the Confirm form posts, and its fields (without the CSRF field and confirm=yes). */
  action: string;
  fields: Record<string, string>;
  button: string;
  /** What the button says while the confirmed request runs. */
  busy: string;
  cancel: string;
}

/** Whether the posted form already carries the admin's confirmation. */
export const isConfirmed = (body: unknown) => (body as { confirm?: unknown } | undefined)?.confirm === 'yes';

/** Deployments that change production and every rollback ask first. */
export const deployNeedsConfirmation = (kind: DeploymentKind, environment: Environment) =>
  kind === 'rollback' || environment === 'production';

const VERB: Record<DeploymentKind, string> = { assign: 'Deploy', promote: 'Promote', rollback: 'Roll back' };
const BUSY: Record<DeploymentKind, string> = { assign: 'Deploying…', promote: 'Promoting…', rollback: 'Rolling back…' };

/** The confirmation of a deployment: the feature, the environment, the model serving it now and the one that would (none for an unknown model). */
export async function deployConfirmation(
  db: Db,
  feature: FeatureRow,
  change: { model_id: string; environment: Environment },
  kind: DeploymentKind,
  form: Pick<Confirmation, 'action' | 'fields' | 'cancel'>,
): Promise<Confirmation | undefined> {
  const model = await findModel(db, change.model_id);
  // An unknown model needs no confirmation: the pipeline refuses it before writing anything.
  if (!model) return undefined;
  const [current] = await activeAssignments(db, { featureId: feature.id, environment: change.environment });
  const to = `${model.display_name} (${model.provider_display_name})`;
  const from = current ? `${current.model_display_name} (${current.provider_display_name})` : 'nothing (no model serves it yet)';
  const verb = VERB[kind];
  return {
    title: `${verb} ${feature.display_name} in ${change.environment}?`,
    facts: [
      ['Feature', feature.display_name],
      ['Environment', change.environment],
      ['Model now', from],
      ['Model after', to],
    ],
    warning:
      change.environment === 'production'
        ? 'Production traffic moves to the new model as soon as its checks pass.'
        : 'The environment moves to the new model as soon as its checks pass.',
    button: `Confirm: ${verb.toLowerCase()} to ${model.display_name}`,
    busy: BUSY[kind],
    ...form,
  };
}

/** The confirmation of a key's revocation. */
export function revokeConfirmation(key: ApiKeyRow, form: Pick<Confirmation, 'action' | 'cancel'>): Confirmation {
  return {
    title: `Revoke the API key “${key.name}”?`,
    facts: [
      ['Key', `${key.name} (${key.prefix}…)`],
      ['Scope', key.scope],
    ],
    warning: 'Clients using it stop at once: every request with this key is refused from then on. This cannot be undone.',
    button: `Confirm: revoke “${key.name}”`,
    busy: 'Revoking…',
    fields: {},
    ...form,
  };
}

/** What each action of a production rollout does, asked before it acts (issue 18). */
const ROLLOUT_STEPS: Record<string, { verb: string; warning: string }> = {
  percent: { verb: 'Advance', warning: 'More production users get the candidate at once; those who had it keep it.' },
  pause: { verb: 'Pause', warning: 'The share holds and the guard stops acting until it is resumed.' },
  resume: { verb: 'Resume', warning: 'The guard acts again, and may advance or roll back by itself.' },
  rollback: { verb: 'Roll back', warning: 'Every production user goes back to the stable model; a new rollout picks different users.' },
  abort: { verb: 'Abort', warning: 'Every production user goes back to the stable model.' },
  complete: { verb: 'Complete', warning: 'The candidate becomes production’s model for everyone, after its checks pass.' },
};

/** The confirmation of an action on a production rollout: its candidate, stable model and share now. */
export function rolloutConfirmation(
  r: { candidate_label: string; stable_label: string; percent: number; environment: Environment },
  action: string,
  form: Pick<Confirmation, 'action' | 'fields' | 'cancel'>,
): Confirmation {
  const step = ROLLOUT_STEPS[action];
  const to = action === 'percent' ? ` to ${form.fields.percent}%` : '';
  return {
    title: `${step.verb} the rollout of ${r.candidate_label} in ${r.environment}${to}?`,
    facts: [
      ['Candidate', r.candidate_label],
      ['Stable', r.stable_label],
      ['Share now', `${r.percent}%`],
    ],
    warning: step.warning,
    button: `Confirm: ${step.verb.toLowerCase()}${to}`,
    busy: 'Working…',
    ...form,
  };
}
