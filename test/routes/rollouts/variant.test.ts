import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestEvents } from '../../../src/services/ingest.ts';
import { makeFeature, makeModel, makeToken, suffix } from '../../setup/factories.ts';
import { postUsage, usageEvent } from '../../setup/usage-api.ts';
import { type Deployments, openDeployments } from '../deployments/setup.ts';
import { API, featureWithStable, rolloutAction, started } from './setup.ts';

// POST /api/v1/usage with `variant` (issue 18): "stable" or "candidate", anything else rejects the
// event; the arm stays inferred from model and prompt version, and a stated variant that contradicts
// it during a rollout is stored with a warning.

let d: Deployments;
let ingest: string;
beforeAll(async () => {
  d = await openDeployments();
  ingest = (await makeToken(d.t.db, 'ingest')).token;
});
afterAll(() => d?.close());

const post = (events: unknown[]) => postUsage(d.t.app, ingest, { events });
const ev = (featureId: string, modelId: string, extra: Record<string, unknown> = {}) =>
  usageEvent('v', featureId, { model: modelId, environment: 'staging', ...extra });

describe('POST /api/v1/usage with a variant', () => {
  it('when the variant is neither stable nor candidate, then that event alone is rejected with a clear message', async () => {
    const { feature, stable } = await featureWithStable(d);
    const res = await post([ev(feature.id, stable.id, { variant: 'treatment' }), ev(feature.id, stable.id, { variant: 'stable' })]).expect(
      200,
    );
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [{ index: 0, error: 'variant must be stable or candidate' }] });
  });

  it('when a rollout runs and an event’s variant contradicts its model, then it is stored with a warning naming the arm; agreeing events pass quietly', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    const other = await makeFeature(d.t.db);
    const res = await post([
      ev(feature.id, candidate.id, { variant: 'candidate' }),
      ev(feature.id, stable.id, { variant: 'stable' }),
      ev(feature.id, stable.id, { variant: 'candidate' }),
      ev(feature.id, candidate.id),
      ev(feature.id, candidate.id, { variant: 'stable', environment: 'production' }),
      ev(other.id, stable.id, { variant: 'candidate' }),
    ]).expect(200);
    expect(res.body).toEqual({
      accepted: 6,
      duplicates: 0,
      rejected: [],
      warnings: [
        {
          index: 2,
          field: 'variant',
          message: `variant candidate contradicts the event's model and prompt version, which are the stable arm of rollout ${rollout.id} (stored; counted by its model and prompt version)`,
        },
      ],
    });
    expect(await d.t.db('ai_usage_logs').where({ feature_id: feature.id }).count({ n: '*' }).first()).toEqual({ n: 5 });
  });

  it('when a prompt version rolls out, then the arm follows the event’s prompt version: a candidate-version event stated stable is warned about', async () => {
    const { feature, stable } = await featureWithStable(d);
    const api = (path: string, body: object) =>
      request(d.t.app).post(`${API}${path}`).set('Authorization', `Bearer ${d.admin.token}`).send(body);
    for (const template of ['Hello {{name}}', 'Hi there {{name}}'])
      await api(`/features/${feature.id}/prompts`, { template, sample_values: { name: 'Ada' } }).expect(201);
    await api(`/features/${feature.id}/prompts/1/activate`, { environment: 'staging' }).expect(201);
    const rollout = await started(d, feature.id, { environment: 'staging', prompt_version: 2 });
    const res = await post([
      ev(feature.id, stable.id, { variant: 'candidate', prompt_version: 2 }),
      ev(feature.id, stable.id, { variant: 'stable', prompt_version: 2 }),
      ev(feature.id, stable.id, { variant: 'stable', prompt_version: 1 }),
    ]).expect(200);
    expect(res.body.warnings).toEqual([
      {
        index: 1,
        field: 'variant',
        message: `variant stable contradicts the event's model and prompt version, which are the candidate arm of rollout ${rollout.id} (stored; counted by its model and prompt version)`,
      },
    ]);
  });

  it('when an event’s model is deleted after the catalogue was read, then it is rejected, with no warning about how it was stored', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    const doomed = await makeModel(d.t.db);
    // An unknown name makes the catalogue be read now, with the doomed model; the next batch comes at the same instant.
    const now = new Date();
    await ingestEvents(d.t.db, [ev(`no-such-feature-${suffix()}`, doomed.id)], now);
    await d.t.db('ai_models').where({ id: doomed.id }).del();
    const result = await ingestEvents(
      d.t.db,
      [ev(feature.id, doomed.id, { variant: 'stable', prompt_version: 'v1' }), ev(feature.id, stable.id, { variant: 'candidate' })],
      now,
    );
    expect(result.rejected).toEqual([{ index: 0, error: `unknown model ${doomed.id}` }]);
    expect(result.warnings?.map((w) => w.index)).toEqual([1]);
  });

  it('when a rollout starts or ends on this instance, then the next batch judges variants by it at once', async () => {
    const { feature, stable, candidate } = await featureWithStable(d);
    const contradicting = () => post([ev(feature.id, stable.id, { variant: 'candidate' })]).expect(200);
    expect((await contradicting()).body.warnings).toBeUndefined(); // the cache now holds no rollout for the feature
    const rollout = await started(d, feature.id, { environment: 'staging', model_id: candidate.id });
    expect((await contradicting()).body.warnings?.map((w: { field: string }) => w.field)).toEqual(['variant']);
    await rolloutAction(d, rollout.id, 'abort').expect(200);
    expect((await contradicting()).body.warnings).toBeUndefined();
  });

  it('when events state a variant and nothing rolls out for their feature, then batches do not read the rollouts each time', async () => {
    const { feature, stable } = await featureWithStable(d);
    await post([ev(feature.id, stable.id, { variant: 'stable' })]).expect(200);
    const reads: string[] = [];
    const count = (q: { sql: string }) => {
      if (/\brollouts\b/.test(q.sql)) reads.push(q.sql);
    };
    d.t.db.on('query', count);
    try {
      for (let i = 0; i < 3; i++) await post([ev(feature.id, stable.id, { variant: 'stable' })]).expect(200);
    } finally {
      d.t.db.removeListener('query', count);
    }
    expect(reads).toEqual([]);
  });
});
