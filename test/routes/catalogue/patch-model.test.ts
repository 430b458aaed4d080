import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import type { Json, ProviderRecord } from '../../setup/rows.ts';
import { API, type Catalogue, expectInvalid, openCatalogue } from './setup.ts';

// PATCH /api/platform/ai-management/models/:id (by uuid or name): what may change, and the
// confirmation deprecating or taking offline a model that serves asks for.

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('patch_model');
});
afterAll(() => c?.close());

describe('PATCH /models/:id', () => {
  let provider: ProviderRecord;
  beforeAll(async () => {
    provider = await makeProvider(c.db);
  });

  it('when display name, status, prices and context window change, then 200 with the new values, and the audit has before and after', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const res = await c.api('patch', `/models/${m.id}`, {
      display_name: 'Acme Chat v2',
      status: 'beta',
      input_price_per_1k: '0.25',
      output_price_per_1k: 0.75,
      context_window: 32000,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({
      id: m.id,
      name: m.name,
      display_name: 'Acme Chat v2',
      status: 'beta',
      context_window: 32000,
      pricing: { input_per_1k: 0.25, output_per_1k: 0.75 },
    });
    expect(res.body.metadata).toBeUndefined();
    const row = (await c.db('ai_models').where({ id: m.id }).first())!;
    expect(row).toMatchObject({ display_name: 'Acme Chat v2', status: 'beta', context_window: 32000 });
    expect([Number(row.input_price_per_1k), Number(row.output_price_per_1k)]).toEqual([0.25, 0.75]);
    const audit = await c.auditFor('model', m.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.updated',
      actor_label: c.adminToken.label,
      before: {
        display_name: m.display_name,
        status: 'available',
        input_price_per_1k: 0.001,
        output_price_per_1k: 0.002,
        context_window: 8192,
      },
      after: { display_name: 'Acme Chat v2', status: 'beta', input_price_per_1k: 0.25, output_price_per_1k: 0.75, context_window: 32000 },
    });
    // Identity fields sent back unchanged are no change at all.
    const same = await c.api('patch', `/models/${m.id}`, {
      name: m.name,
      model_type: 'llm',
      provider: provider.name,
      display_name: 'Acme Chat v3',
    });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
  });

  it('when the model is unknown (random uuid or not a uuid), then 404 and nothing is written', async () => {
    const before = await c.snapshot();
    for (const id of [crypto.randomUUID(), 'not-a-model']) {
      const res = await c.api('patch', `/models/${id}`, { display_name: 'Ghost' });
      expect(res.status).toBe(404);
      expect(res.body.success).toBe(false);
    }
    expect(await c.snapshot()).toEqual(before);
  });

  const invalid: { label: string; body: () => Json; field: string }[] = [
    { label: 'a new name', body: () => ({ name: `other-${suffix()}` }), field: 'name' },
    { label: 'a new model type', body: () => ({ model_type: 'embedding' }), field: 'model_type' },
    { label: 'another provider by slug', body: () => ({ provider: 'simulator' }), field: 'provider' },
    { label: 'another provider by uuid', body: () => ({ provider: c.simulatorId }), field: 'provider' },
    { label: 'an unknown status', body: () => ({ status: 'gone' }), field: 'status' },
    { label: 'a display name with a control character', body: () => ({ display_name: 'Bad\u0000name' }), field: 'display_name' },
    { label: 'a negative input price', body: () => ({ input_price_per_1k: -1 }), field: 'input_price_per_1k' },
    { label: 'a non-numeric output price', body: () => ({ output_price_per_1k: 'free' }), field: 'output_price_per_1k' },
    { label: 'a price finer than the 6 decimals stored', body: () => ({ input_price_per_1k: '0.0000004' }), field: 'input_price_per_1k' },
    { label: 'a context window of 0', body: () => ({ context_window: 0 }), field: 'context_window' },
    { label: 'a fractional context window', body: () => ({ context_window: 2.5 }), field: 'context_window' },
  ];
  it.each(invalid)('when the change has $label, then 422 naming $field and the model is unchanged', async ({ body, field }) => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const before = await c.snapshot();
    await expectInvalid(await c.api('patch', `/models/${m.id}`, body()), field);
    expect(await c.snapshot()).toEqual(before);
  });

  it('when the model is named by its name (SPEC §6: uuid or slug), then it is changed if one provider has that name, and 409 listing the ids when several do', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const res = await c.api('patch', `/models/${encodeURIComponent(m.name)}`, { display_name: 'By name' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ id: m.id, display_name: 'By name' });
    const twin = await makeModel(c.db, { provider_id: (await makeProvider(c.db)).id, name: m.name });
    const before = await c.snapshot();
    const ambiguous = await c.api('patch', `/models/${encodeURIComponent(m.name)}`, { display_name: 'Which one?' });
    expect(ambiguous.status, JSON.stringify(ambiguous.body)).toBe(409);
    expect(ambiguous.body.details.candidates.map((candidate: { id: string }) => candidate.id).sort()).toEqual([m.id, twin.id].sort());
    expect(await c.snapshot()).toEqual(before);
  });

  it('when the display name is sent empty or an unknown field is sent, then 422 naming it and the model is unchanged', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const before = await c.snapshot();
    await expectInvalid(await c.api('patch', `/models/${m.id}`, { display_name: '' }), 'display_name');
    await expectInvalid(await c.api('patch', `/models/${m.id}`, { price: 3 }), 'price');
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a model serving production is deprecated, then 409 naming the feature and nothing changes; with confirm it is deprecated and the response lists what is out of service', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const feature = await makeFeature(c.db, { display_name: `Invoice Reader ${suffix()}` });
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'production' });
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'staging' });
    const before = await c.snapshot();
    const res = await c.api('patch', `/models/${m.id}`, { status: 'deprecated', display_name: 'Renamed meanwhile' });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body.success).toBe(false);
    expect(res.body.error).toContain(feature.display_name);
    expect(res.body.error).toContain('production');
    expect(res.body.details).toEqual({
      confirm_required: true,
      affected: [{ feature_name: feature.name, feature_display_name: feature.display_name, environment: 'production' }],
    });
    expect(await c.snapshot()).toEqual(before);

    const ok = await c.api('patch', `/models/${m.id}`, { status: 'deprecated', confirm: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data.status).toBe('deprecated');
    expect(ok.body.metadata).toEqual({
      out_of_service: [{ feature_name: feature.name, feature_display_name: feature.display_name, environment: 'production' }],
    });
    expect((await c.db('ai_models').where({ id: m.id }).first())?.status).toBe('deprecated');
    // The assignments stay: the product keeps calling the model until someone moves the feature.
    expect(await c.db('feature_model_assignments').where({ model_id: m.id, is_active: true }).count({ n: '*' })).toEqual([{ n: 2 }]);
    const audit = await c.auditFor('model', m.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.updated',
      before: { status: 'available' },
      after: { status: 'deprecated', affected: [{ feature_name: feature.name, environment: 'production' }] },
    });
  });

  it('when a model serving only staging is taken offline, then 409 naming staging; deprecating it there needs no confirmation', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const feature = await makeFeature(c.db);
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'staging' });
    const before = await c.snapshot();
    const offline = await c.api('patch', `/models/${m.id}`, { status: 'offline' });
    expect(offline.status, JSON.stringify(offline.body)).toBe(409);
    expect(offline.body.details).toMatchObject({
      confirm_required: true,
      affected: [{ feature_name: feature.name, environment: 'staging' }],
    });
    expect(offline.body.error).toContain('staging');
    expect(await c.snapshot()).toEqual(before);

    const deprecated = await c.api('patch', `/models/${m.id}`, { status: 'deprecated' });
    expect(deprecated.status, JSON.stringify(deprecated.body)).toBe(200);
    expect(deprecated.body.data.status).toBe('deprecated');
    expect(deprecated.body.metadata).toBeUndefined();
    expect(deprecated.body.data.deployments).toEqual([expect.objectContaining({ environment: 'staging' })]);
  });

  it('when the only production assignment is history (inactive), then deprecating and taking offline need no confirmation', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const feature = await makeFeature(c.db);
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'production', is_active: false });
    const res = await c.api('patch', `/models/${m.id}`, { status: 'offline' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.status).toBe('offline');
  });

  it('when a viewer session or a read token patches, then 403; no credentials 401; nothing is written', async () => {
    const m = await makeModel(c.db, { provider_id: provider.id });
    const before = await c.snapshot();
    await c.viewer.agent.patch(`${API}/models/${m.id}`).set('x-csrf-token', c.viewer.csrf).send({ status: 'offline' }).expect(403);
    await c.api('patch', `/models/${m.id}`, { status: 'offline' }, c.readToken).expect(403);
    await c.api('patch', `/models/${m.id}`, { status: 'offline' }, null).expect(401);
    expect(await c.snapshot()).toEqual(before);
  });
});
