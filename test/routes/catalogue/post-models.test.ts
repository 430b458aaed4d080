import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProvider, suffix } from '../../setup/factories.ts';
import type { Json, ProviderRecord } from '../../setup/rows.ts';
import { API, type Catalogue, expectInvalid, openCatalogue } from './setup.ts';

// POST /api/platform/ai-management/models: a model added through the JSON API, under a provider
// named by slug or uuid; every refusal writes nothing (whole tables).

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('post_models');
});
afterAll(() => c?.close());

describe('POST /models', () => {
  let provider: ProviderRecord;
  beforeAll(async () => {
    provider = await makeProvider(c.db);
  });
  const validModel = (fields: Json = {}): Json => ({
    provider: provider.name,
    name: `acme-chat-${suffix()}`,
    display_name: 'Acme Chat',
    model_type: 'llm',
    input_price_per_1k: 0.0015,
    output_price_per_1k: 0.002,
    context_window: 128000,
    ...fields,
  });

  it('when an admin adds a model (provider by slug, then by uuid, prices as form strings), then 201 with the plan shape, stored and audited', async () => {
    const body = validModel({ status: 'beta' });
    const res = await c.api('post', '/models', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({
      name: body.name,
      display_name: 'Acme Chat',
      provider_name: provider.name,
      provider_display_name: provider.display_name,
      model_type: 'llm',
      status: 'beta',
      context_window: 128000,
      pricing: { input_per_1k: 0.0015, output_per_1k: 0.002 },
      deployments: [],
    });
    const row = (await c.db('ai_models').where({ id: res.body.data.id }).first())!;
    expect(row).toMatchObject({ provider_id: provider.id, name: body.name, status: 'beta', context_window: 128000 });
    expect(Number(row.input_price_per_1k)).toBe(0.0015);
    const audit = await c.auditFor('model', row.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.created',
      actor_label: c.adminToken.label,
      before: null,
      after: {
        provider: provider.name,
        name: body.name,
        model_type: 'llm',
        display_name: 'Acme Chat',
        status: 'beta',
        input_price_per_1k: 0.0015,
        output_price_per_1k: 0.002,
        context_window: 128000,
      },
    });

    const byId = await c.api(
      'post',
      '/models',
      validModel({ provider: provider.id, input_price_per_1k: '0.5', output_price_per_1k: '0', context_window: '4096', status: '' }),
    );
    expect(byId.status, JSON.stringify(byId.body)).toBe(201);
    expect(byId.body.data).toMatchObject({ status: 'available', context_window: 4096, pricing: { input_per_1k: 0.5, output_per_1k: 0 } });
    const listed = await c.api('get', `/models?provider=${provider.name}`).expect(200);
    expect(listed.body.data.map((m: { id: string }) => m.id).sort()).toEqual([res.body.data.id, byId.body.data.id].sort());
  });

  const invalid: { label: string; body: () => Json; field: string }[] = [
    { label: 'no provider', body: () => validModel({ provider: undefined }), field: 'provider' },
    { label: 'an unknown provider slug', body: () => validModel({ provider: `nobody-${suffix()}` }), field: 'provider' },
    { label: 'an unknown provider uuid', body: () => validModel({ provider: crypto.randomUUID() }), field: 'provider' },
    { label: 'no name', body: () => validModel({ name: undefined }), field: 'name' },
    { label: 'a name with a space', body: () => validModel({ name: 'acme chat' }), field: 'name' },
    { label: 'a name with a control character', body: () => validModel({ name: 'acme\u0007chat' }), field: 'name' },
    { label: 'a name of 201 characters', body: () => validModel({ name: 'n'.repeat(201) }), field: 'name' },
    { label: 'no display name', body: () => validModel({ display_name: undefined }), field: 'display_name' },
    { label: 'a display name with a control character', body: () => validModel({ display_name: 'Acme\u001bChat' }), field: 'display_name' },
    { label: 'an unknown model type', body: () => validModel({ model_type: 'audio' }), field: 'model_type' },
    { label: 'no model type', body: () => validModel({ model_type: undefined }), field: 'model_type' },
    { label: 'an unknown status', body: () => validModel({ status: 'retired' }), field: 'status' },
    { label: 'a negative input price', body: () => validModel({ input_price_per_1k: -0.01 }), field: 'input_price_per_1k' },
    { label: 'a non-numeric output price', body: () => validModel({ output_price_per_1k: 'cheap' }), field: 'output_price_per_1k' },
    { label: 'an output price of NaN', body: () => validModel({ output_price_per_1k: 'NaN' }), field: 'output_price_per_1k' },
    { label: 'no input price', body: () => validModel({ input_price_per_1k: undefined }), field: 'input_price_per_1k' },
    { label: 'an input price above 1000', body: () => validModel({ input_price_per_1k: 1001 }), field: 'input_price_per_1k' },
    { label: 'a context window of 0', body: () => validModel({ context_window: 0 }), field: 'context_window' },
    { label: 'a fractional context window', body: () => validModel({ context_window: 1.5 }), field: 'context_window' },
    { label: 'a negative context window', body: () => validModel({ context_window: -100 }), field: 'context_window' },
    { label: 'a context window of "8k"', body: () => validModel({ context_window: '8k' }), field: 'context_window' },
  ];
  it.each(invalid)('when the body has $label, then 422 naming $field and nothing is written', async ({ body, field }) => {
    const before = await c.snapshot();
    await expectInvalid(await c.api('post', '/models', body()), field);
    expect(await c.snapshot()).toEqual(before);
  });

  it('when the provider already has a model of that name, then 409 naming the field; another provider may use the name', async () => {
    const body = validModel();
    await c.api('post', '/models', body).expect(201);
    const before = await c.snapshot();
    const res = await c.api('post', '/models', { ...body, display_name: 'Duplicate' });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({ success: false, details: { name: expect.any(String) } });
    expect(await c.snapshot()).toEqual(before);
    const other = await makeProvider(c.db);
    await c.api('post', '/models', { ...body, provider: other.name }).expect(201);
  });

  it('when a viewer session or a read token posts, then 403; no credentials 401; nothing is written', async () => {
    const before = await c.snapshot();
    await c.viewer.agent.post(`${API}/models`).set('x-csrf-token', c.viewer.csrf).send(validModel()).expect(403);
    await c.api('post', '/models', validModel(), c.readToken).expect(403);
    await c.api('post', '/models', validModel(), null).expect(401);
    expect(await c.snapshot()).toEqual(before);
    const res = await c.admin.agent.post(`${API}/models`).set('x-csrf-token', c.admin.csrf).send(validModel());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});
