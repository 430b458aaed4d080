import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { createDb } from '../../src/db/knex.ts';
import { run } from '../../src/jobs/deployments.ts';
import { databaseUrl } from '../setup/app.ts';
import { makeFeature, makeModel } from '../setup/factories.ts';
import type { NewRow } from '../setup/rows.ts';

// The job that finishes deployments an earlier server process left in progress.

let db: Db;
beforeAll(() => {
  db = createDb(databaseUrl(), 2);
});
afterAll(() => db?.destroy());

describe('jobs/deployments run(): deployments a stopped server left in progress', () => {
  it('when the job runs, then in-progress deployments older than any can run are finished as failed, and a running one is left alone', async () => {
    const feature = await makeFeature(db);
    const model = await makeModel(db);
    const row = (startedAt: Date): NewRow<'deployments'> => ({
      feature_id: feature.id,
      model_id: model.id,
      environment: 'staging',
      kind: 'assign',
      requested_by: 'test',
      started_at: startedAt,
    });
    const [stale] = await db('deployments')
      .insert(row(new Date(Date.now() - 5 * 60_000)))
      .returning('id');
    const [running] = await db('deployments').insert(row(new Date())).returning('id');
    expect((await run({ db, now: new Date() })).interrupted).toBeGreaterThanOrEqual(1);
    expect(await db('deployments').where({ id: stale.id }).first('status', 'error')).toEqual({
      status: 'failed',
      error: expect.stringMatching(/^interrupted/),
    });
    expect(await db('deployments').where({ id: running.id }).first('status')).toEqual({ status: 'in_progress' });
    await db('deployments').where({ id: running.id }).update({ status: 'failed', error: 'test over', finished_at: new Date() });
  });
});
