import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { type PromptVersionRow, promptDeployments, promptVersions } from '../db/queries/prompts.ts';
import { ENVIRONMENTS, type Environment } from '../domain.ts';
import { notFound } from '../http/errors.ts';
import { formValuesOf } from '../services/prompt-versions.ts';
import { type CsvColumn, csvOf } from './csv.ts';
import { NEXT_ENVIRONMENT } from './feature-models-tab.ts';
import { promptDiff } from './prompt-diff.ts';

/** Which two versions the diff compares (the Prompts tab's `from` and `to`). */
export interface DiffPick {
  from?: number;
  to?: number;
}

/** The diff of two versions of a feature's prompt, by number; 404 when either is not one. */
export function diffOf(versions: PromptVersionRow[], pick: Required<DiffPick>) {
  const [older, newer] = [pick.from, pick.to].map((n) => versions.find((v) => v.version === n));
  if (!older || !newer) throw notFound('Prompt version');
  return promptDiff(older, newer);
}

/**
 * The Prompts tab: each environment's active version and what promoting it would do, the versions
 * (newest first) with their variables and where each is active, the history of prompt deployments
 * (who moved what, when and why; the refused ones too), the new-version form prefilled with the
 * latest, and the diff of two versions when the URL asks for one.
 */
export async function featurePromptsTab(db: Db, feature: FeatureRow, pick: DiffPick) {
  const [versions, history] = await Promise.all([promptVersions(db, feature.id), promptDeployments(db, feature.id)]);
  const activeIn = (env: Environment) => versions.find((v) => v.active_in.includes(env));
  const environments = ENVIRONMENTS.map((env) => {
    const active = activeIn(env);
    const next = NEXT_ENVIRONMENT[env];
    const promotable = active && next && activeIn(next)?.id !== active.id;
    return { environment: env, active, promoteTo: promotable ? next : undefined };
  });
  const latest = versions.at(0);
  const diff = pick.from !== undefined && pick.to !== undefined ? diffOf(versions, { from: pick.from, to: pick.to }) : undefined;
  return {
    versions,
    environments,
    environmentNames: ENVIRONMENTS,
    history,
    diff,
    latestValues: latest ? formValuesOf(latest) : undefined,
  };
}
export type PromptsTab = Awaited<ReturnType<typeof featurePromptsTab>>;

const HISTORY_CSV: readonly CsvColumn<PromptVersionRow>[] = [
  ['version', (v) => v.version],
  ['created_at', (v) => v.created_at.toISOString()],
  ['created_by', (v) => v.created_by],
  ['note', (v) => v.notes],
  ['variables', (v) => v.variables.join(' ')],
  ['temperature', (v) => v.params.temperature ?? null],
  ['max_tokens', (v) => v.params.max_tokens ?? null],
  ['stop', (v) => (v.params.stop ?? []).join(' | ')],
  ['active_in', (v) => v.active_in.join(' ')],
  ['content_hash', (v) => v.content_hash],
  ['template', (v) => v.template],
];

/** The version history as CSV (format=csv). */
export async function promptHistoryCsv(db: Db, feature: FeatureRow): Promise<string> {
  return csvOf(HISTORY_CSV, await promptVersions(db, feature.id));
}
