import type { Environment } from '../../domain.ts';
import type { Db } from '../knex.ts';

export interface PromptVersionRow {
  id: string;
  version: number;
  template: string;
  notes: string;
  created_by: string;
  created_at: Date;
  /** The environments where this version is the active one. */
  active_in: Environment[];
}

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
      'v.id',
      'v.version',
      'v.template',
      'v.notes',
      'v.created_by',
      'v.created_at',
      db.raw(`coalesce(array_agg(a.environment ORDER BY a.environment) FILTER (WHERE a.environment IS NOT NULL), '{}') AS active_in`),
    );
}
