import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/knex.ts';
import { activeAssignments } from '../../src/db/queries/assignments.ts';
import { listFeatures, withAssignments } from '../../src/db/queries/features.ts';
import { databaseUrl } from '../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider } from '../setup/factories.ts';

const db = createDb(databaseUrl(), 2);
afterAll(() => db.destroy());

// The rows are copied column by column (a rest destructuring is slow in Node 20's V8): what the
// copy keeps must be the assignment's columns and its serving problem, nothing of the probe join.
describe('active assignments as pages read them', () => {
  it('when a provider failed its last probe, then each row has the assignment’s columns and why it cannot serve, and no probe columns', async () => {
    const provider = await makeProvider(db, { status: 'active', key: 'sk-test-abcd' });
    const model = await makeModel(db, { provider_id: provider.id });
    const feature = await makeFeature(db);
    const assignment = await makeAssignment(db, { feature_id: feature.id, model_id: model.id, environment: 'staging' });
    await db('health_checks').insert({ provider_id: provider.id, kind: 'probe', status: 'error', error: 'connection refused' });

    const [row, ...others] = await activeAssignments(db, { featureId: feature.id });
    expect(others).toEqual([]);
    expect(Object.keys(row).sort()).toEqual(
      [
        'assigned_at',
        'assigned_by',
        'assignment_id',
        'base_url',
        'config_overrides',
        'environment',
        'feature_display_name',
        'feature_id',
        'feature_name',
        'model_display_name',
        'model_id',
        'model_name',
        'model_status',
        'model_type',
        'provider_display_name',
        'provider_id',
        'provider_kind',
        'provider_name',
        'provider_status',
        'serving_problem',
      ].sort(),
    );
    expect(row).toMatchObject({
      assignment_id: assignment.id,
      feature_id: feature.id,
      feature_name: feature.name,
      environment: 'staging',
      model_id: model.id,
      model_display_name: model.display_name,
      provider_id: provider.id,
      provider_display_name: provider.display_name,
      provider_status: 'active',
      assigned_by: 'test',
      serving_problem: `${provider.display_name} did not answer its last probe: connection refused`,
    });
    expect(row.assigned_at).toBeInstanceOf(Date);

    // Beside its feature, keyed by environment, the feature's own columns untouched.
    const features = (await listFeatures(db)).filter((f) => f.id === feature.id);
    const [placed] = withAssignments(features, await activeAssignments(db));
    expect(placed).toEqual({ ...features[0], assignments: { staging: row } });
  });
});
