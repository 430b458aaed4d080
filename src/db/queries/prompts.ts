import type { Environment } from '../../domain.ts';
import { type Adjusted, type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';
import type { Row } from '../tables.ts';

type VersionJoin = { v: 'prompt_versions' };
/** What a version says: its content, as the history and the active version both read it. */
const VERSION_CONTENT = {
  id: 'v.id',
  version: 'v.version',
  template: 'v.template',
  params: 'v.params',
  sample_values: 'v.sample_values',
  variables: 'v.variables',
  content_hash: 'v.content_hash',
} as const satisfies ColumnMap<VersionJoin>;
const VERSION_COLUMNS = {
  ...VERSION_CONTENT,
  notes: 'v.notes',
  created_by: 'v.created_by',
  created_at: 'v.created_at',
} as const satisfies ColumnMap<VersionJoin>;

export type PromptVersionRow = Selected<VersionJoin, typeof VERSION_COLUMNS> & {
  /** The environments where this version is the active one. */
  active_in: Environment[];
};

/** A feature's prompt versions, newest first, each with where it is active. */
export async function promptVersions(db: Db, featureId: string): Promise<PromptVersionRow[]> {
  return db('prompt_versions as v')
    .leftJoin('prompt_activations as a', function () {
      this.on('a.prompt_version_id', 'v.id').andOn('a.is_active', db.raw('true'));
    })
    .where('v.feature_id', featureId)
    .groupBy('v.id')
    .orderBy('v.version', 'desc')
    .select(
      ...columns(VERSION_COLUMNS),
      db.raw(`coalesce(array_agg(a.environment ORDER BY a.environment) FILTER (WHERE a.environment IS NOT NULL), '{}') AS active_in`),
    );
}

/** One version of a feature's prompt, by its number. */
export async function findPromptVersion(db: Db, featureId: string, version: number): Promise<Row<'prompt_versions'> | undefined> {
  return db('prompt_versions').where({ feature_id: featureId, version }).first();
}

type ActiveJoin = { a: 'prompt_activations'; v: 'prompt_versions' };
const ACTIVE_COLUMNS = {
  ...VERSION_CONTENT,
  activation_id: 'a.id',
} as const satisfies ColumnMap<ActiveJoin>;
export type ActivePromptRow = Selected<ActiveJoin, typeof ACTIVE_COLUMNS>;

/** The prompt version active for a feature in an environment, if any. */
export async function activePrompt(db: Db, featureId: string, environment: Environment): Promise<ActivePromptRow | undefined> {
  return db('prompt_activations as a')
    .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
    .where({ 'a.feature_id': featureId, 'a.environment': environment, 'a.is_active': true })
    .first(columns(ACTIVE_COLUMNS));
}

type HistoryJoin = { d: 'deployments'; v: 'prompt_versions'; pv: 'prompt_versions'; m: 'ai_models' };
const HISTORY_COLUMNS = {
  id: 'd.id',
  environment: 'd.environment',
  kind: 'd.kind',
  status: 'd.status',
  version: 'v.version',
  previous_version: 'pv.version',
  model_display_name: 'm.display_name',
  requested_by: 'd.requested_by',
  reason: 'd.reason',
  started_at: 'd.started_at',
  finished_at: 'd.finished_at',
  error: 'd.error',
} as const satisfies ColumnMap<HistoryJoin>;

/** A prompt deployment as the history lists it: who moved which environment from which version to which, when, why. */
export type PromptDeploymentRow = Adjusted<Selected<HistoryJoin, typeof HISTORY_COLUMNS>, { previous_version: number | null }>;

/** A feature's prompt deployments (activations, promotions, rollbacks, the refused ones too), newest first. */
export async function promptDeployments(db: Db, featureId: string, limit = 200): Promise<PromptDeploymentRow[]> {
  return db('deployments as d')
    .join('prompt_versions as v', 'v.id', 'd.prompt_version_id')
    .leftJoin('prompt_versions as pv', 'pv.id', 'd.previous_prompt_version_id')
    .join('ai_models as m', 'm.id', 'd.model_id')
    .where({ 'd.feature_id': featureId, 'd.subject': 'prompt' })
    .orderBy('d.started_at', 'desc')
    .orderBy('d.id')
    .limit(limit)
    .select(columns(HISTORY_COLUMNS));
}

type ActivationJoin = { a: 'prompt_activations'; v: 'prompt_versions'; pv: 'prompt_versions' };
const ACTIVATION_MARKER_COLUMNS = {
  id: 'a.id',
  environment: 'a.environment',
  version: 'v.version',
  previous_version: 'pv.version',
  activated_at: 'a.activated_at',
} as const satisfies ColumnMap<ActivationJoin>;

/** A prompt activation drawn on a feature's charts; no previous version for a first activation. */
export type PromptActivationMarkerRow = Adjusted<
  Selected<ActivationJoin, typeof ACTIVATION_MARKER_COLUMNS>,
  { previous_version: number | null }
>;

/** The prompt activations of a feature in [from, to), oldest first: markers on its charts (issue 15). */
export async function promptActivationsBetween(db: Db, featureId: string, from: Date, to: Date): Promise<PromptActivationMarkerRow[]> {
  return db('prompt_activations as a')
    .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
    .leftJoin('prompt_versions as pv', 'pv.id', 'a.previous_version_id')
    .where('a.feature_id', featureId)
    .where('a.activated_at', '>=', from)
    .where('a.activated_at', '<', to)
    .orderBy('a.activated_at')
    .select(columns(ACTIVATION_MARKER_COLUMNS));
}

/** The active prompt version number of every feature and environment that has one, keyed `${feature_id}:${environment}`. */
export async function activePromptVersionNumbers(db: Db): Promise<Map<string, number>> {
  const rows: { feature_id: string; environment: Environment; version: number }[] = await db('prompt_activations as a')
    .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
    .where('a.is_active', true)
    .select('a.feature_id', 'a.environment', 'v.version');
  return new Map(rows.map((r) => [`${r.feature_id}:${r.environment}`, r.version]));
}
