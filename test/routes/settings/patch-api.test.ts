import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAssignment, makeFeature, makeModel } from '../../setup/factories.ts';
import { API, openSettingsTab, type SettingsTab } from './setup.ts';

// PATCH /api/platform/ai-management/features/:id (SPEC §10.3): the Settings tab's rules over JSON,
// settings nested, unknown fields refused by name; no confirmation step.

let c: SettingsTab;
beforeAll(async () => {
  c = await openSettingsTab();
});
afterAll(() => c?.close());

const patch = (ref: string, token: string, body: unknown) =>
  request(c.t.app)
    .patch(`${API}/${ref}`)
    .set('Authorization', `Bearer ${token}`)
    .send(body as object);

describe('PATCH /api/platform/ai-management/features/:id', () => {
  it('when an admin-scoped token turns a production feature off and sets thresholds, then 200 with the feature, no confirmation asked, and one audit entry by the token', async () => {
    const { f } = await c.serving();
    const { token, name } = await c.token('admin');
    const restoreAt = new Date(Date.now() + 3_600_000).toISOString();
    const res = await patch(f.id, token, {
      status: 'maintenance',
      status_reason: 'Migrating',
      restore_at: restoreAt,
      settings: { error_rate_threshold: 3, monthly_budget_usd: 50, over_budget_action: 'flag', min_eval_pass_rate: 95 },
    }).expect(200);
    expect(res.body).toMatchObject({
      success: true,
      data: {
        id: f.id,
        status: 'maintenance',
        status_reason: 'Migrating',
        restore_at: restoreAt,
        settings: {
          error_rate_threshold: 3,
          latency_threshold_ms: 2000,
          monthly_budget_usd: 50,
          over_budget_action: 'flag',
          min_eval_pass_rate: 95,
        },
      },
      metadata: {
        changed: [
          'status',
          'status_reason',
          'restore_at',
          'error_rate_threshold',
          'monthly_budget_usd',
          'over_budget_action',
          'min_eval_pass_rate',
        ],
      },
    });
    expect(await c.audits(f.id)).toEqual([
      expect.objectContaining({ action: 'feature.updated', actor_type: 'token', actor_label: `token:${name}` }),
    ]);
    const again = await patch(f.name, token, { settings: { error_rate_threshold: '3' } }).expect(200);
    expect(again.body.metadata).toEqual({ changed: [] });
    expect(await c.audits(f.id)).toHaveLength(1);
  });

  it('when unknown fields are sent, at the top or in settings, then 422 naming each, and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    const { token } = await c.token('admin');
    const res = await patch(f.id, token, { display_name: 'X', colour: 'red', settings: { error_rate_threshold: 2, budget: 5 } }).expect(
      422,
    );
    expect(res.body).toEqual({
      success: false,
      error: 'Invalid feature settings: colour, settings.budget',
      details: { colour: 'is not a field that can be set', 'settings.budget': 'is not a field that can be set' },
    });
    expect(await c.feature(f.id)).toMatchObject({ display_name: 'Test feature', error_rate_threshold: 5 });
  });

  it('when a value breaks a rule, then 422 with the field and its message, and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    const model = await makeModel(c.t.db);
    await makeAssignment(c.t.db, { feature_id: f.id, model_id: model.id });
    const { token } = await c.token('admin');
    const res = await patch(f.id, token, { required_model_type: 'embedding', settings: { latency_threshold_ms: 0 } }).expect(422);
    expect(res.body.details).toEqual({ latency_threshold_ms: 'must be a whole number of milliseconds from 1 to 600000' });
    const conflict = await patch(f.id, token, { required_model_type: 'embedding' }).expect(422);
    expect(conflict.body.details.required_model_type).toContain(`${model.display_name} (llm) serves production`);
    expect(await c.audits(f.id)).toEqual([]);
  });

  it('when a read token, an ingest token or a viewer asks, then 403 and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    for (const scope of ['read', 'ingest'] as const) await patch(f.id, (await c.token(scope)).token, { display_name: 'No' }).expect(403);
    const viewer = await c.viewer.agent.patch(`${API}/${f.id}`).set('X-CSRF-Token', c.viewer.csrf).send({ display_name: 'No' }).expect(403);
    expect(viewer.body).toEqual({ success: false, error: 'Only admins can make changes' });
    expect((await c.feature(f.id)).display_name).toBe('Test feature');
  });

  it('when the feature does not exist, then 404', async () => {
    await patch('no-such-feature', (await c.token('admin')).token, { display_name: 'X' }).expect(404);
  });
});
