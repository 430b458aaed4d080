import type { Environment } from '../../domain.ts';
import { type ColumnMap, columns, type Selected } from '../columns.ts';
import type { Db } from '../knex.ts';

type VersionJoin = { v: 'prompt_versions' };
const VERSION_COLUMNS = {
  id: 'v.id',
  version: 'v.version',
  template: 'v.template',
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

type ActiveJoin = { a: 'prompt_activations'; v: 'prompt_versions' };
const ACTIVE_COLUMNS = { id: 'v.id', version: 'v.version', template: 'v.template' } as const satisfies ColumnMap<ActiveJoin>;

/** The prompt version active for a feature in an environment, if any. */
export async function activePrompt(
  db: Db,
  featureId: string,
  environment: Environment,
): Promise<Selected<ActiveJoin, typeof ACTIVE_COLUMNS> | undefined> {
  return db('prompt_activations as a')
    .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
    .where({ 'a.feature_id': featureId, 'a.environment': environment, 'a.is_active': true })
    .first(columns(ACTIVE_COLUMNS));
}
