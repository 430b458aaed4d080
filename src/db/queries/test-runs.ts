import type { Db } from '../knex.ts';
import type { Row } from '../tables.ts';

/** A run as pages list it: the run with its model's name and its prompt version's number. */
export type TestRunListRow = Row<'test_runs'> & { model_display_name: string; prompt_version: number | null };

const listed = (db: Db) =>
  db('test_runs as r')
    .join('ai_models as m', 'm.id', 'r.model_id')
    .leftJoin('prompt_versions as v', 'v.id', 'r.prompt_version_id')
    .select<TestRunListRow[]>('r.*', 'm.display_name as model_display_name', 'v.version as prompt_version');

/** A feature's runs, newest first. */
export async function recentTestRuns(db: Db, featureId: string, limit = 20): Promise<TestRunListRow[]> {
  return listed(db).where('r.feature_id', featureId).orderBy('r.created_at', 'desc').orderBy('r.id').limit(limit);
}

/** One run of a feature (undefined when the id is another feature's, or no run's). */
export async function findTestRun(db: Db, featureId: string, id: string): Promise<TestRunListRow | undefined> {
  return listed(db).where({ 'r.feature_id': featureId, 'r.id': id }).first();
}

/** One run, whatever its feature (the JSON API). */
export async function testRunById(db: Db, id: string): Promise<TestRunListRow | undefined> {
  return listed(db).where('r.id', id).first();
}

/** A run's results, in the order of its cases. */
export async function testRunResults(db: Db, runId: string): Promise<Row<'test_run_results'>[]> {
  return db('test_run_results').where({ run_id: runId }).orderBy('position');
}
