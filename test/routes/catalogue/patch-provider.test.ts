import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSecret } from '../../../src/providers/secrets.ts';
import { UNSAFE_URLS } from '../../providers/unsafe-urls.ts';
import { TEST_SECRETS_KEY } from '../../setup/app.ts';
import { apiKey, makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import type { Json } from '../../setup/rows.ts';
import { API, type Catalogue, expectInvalid, hintOf, openCatalogue } from './setup.ts';

// PATCH /api/platform/ai-management/providers/:id (by uuid or slug): what may change, what needs the
// key again, what needs confirmation; every refusal writes nothing (whole tables).

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('patch_provider');
});
afterAll(() => c?.close());

describe('PATCH /providers/:id', () => {
  it('when the display name is changed by slug and again by uuid, then both answer 200 and each change is audited with before and after', async () => {
    const key = apiKey();
    const p = await makeProvider(c.db, { status: 'active', key });
    const bySlug = await c.api('patch', `/providers/${p.name}`, { display_name: 'Renamed once' });
    expect(bySlug.status, JSON.stringify(bySlug.body)).toBe(200);
    expect(bySlug.body.data).toMatchObject({
      id: p.id,
      name: p.name,
      display_name: 'Renamed once',
      status: 'active',
      api_key_hint: hintOf(key),
      base_url: p.base_url,
    });
    const byId = await c.api('patch', `/providers/${p.id}`, { display_name: 'Renamed twice' }).expect(200);
    expect(byId.body.data.display_name).toBe('Renamed twice');
    const row = (await c.db('ai_providers').where({ id: p.id }).first())!;
    expect(row.display_name).toBe('Renamed twice');
    expect(row.api_key_ciphertext!.equals(p.api_key_ciphertext!)).toBe(true); // the key is kept
    const audit = await c.auditFor('provider', p.id);
    expect(audit.map((a) => a.action)).toEqual(['provider.updated', 'provider.updated']);
    expect(audit[0]).toMatchObject({
      actor_label: c.adminToken.label,
      before: { display_name: p.display_name, base_url: p.base_url, api_key: hintOf(key), status: 'active' },
      after: { display_name: 'Renamed once', base_url: p.base_url, api_key: hintOf(key), status: 'active' },
    });
    expect(audit[1]).toMatchObject({ before: { display_name: 'Renamed once' }, after: { display_name: 'Renamed twice' } });
  });

  it('when the provider is unknown (uuid or slug), then 404 and nothing is written', async () => {
    const before = await c.snapshot();
    for (const id of [crypto.randomUUID(), `nobody-${suffix()}`]) {
      const res = await c.api('patch', `/providers/${id}`, { display_name: 'Ghost' });
      expect(res.status).toBe(404);
      expect(res.body.success).toBe(false);
    }
    await c.api('post', `/providers/${crypto.randomUUID()}/test`, {}).expect(404);
    expect(await c.snapshot()).toEqual(before);
  });

  const invalid: { label: string; body: () => Json; field: string }[] = [
    { label: 'a new slug', body: () => ({ name: `renamed-${suffix()}` }), field: 'name' },
    { label: 'a new kind', body: () => ({ kind: 'simulator' }), field: 'kind' },
    { label: 'a display name with a control character', body: () => ({ display_name: 'Bad\u0007name' }), field: 'display_name' },
    { label: 'a display name of 121 characters', body: () => ({ display_name: 'y'.repeat(121) }), field: 'display_name' },
    ...UNSAFE_URLS.map(([label, base_url]) => ({
      label: `a base URL with ${label} (and a key)`,
      body: () => ({ base_url, api_key: apiKey() }),
      field: 'base_url',
    })),
    { label: 'a short key', body: () => ({ api_key: 'short' }), field: 'api_key' },
    { label: 'a key with a space', body: () => ({ api_key: 'sk-has space-123456' }), field: 'api_key' },
    { label: 'status error', body: () => ({ status: 'error' }), field: 'status' },
  ];
  it.each(invalid)(
    'when an active provider with a key is sent $label, then 422 naming $field and the row is unchanged',
    async ({ body, field }) => {
      const p = await makeProvider(c.db, { status: 'active', key: apiKey() });
      const before = await c.snapshot();
      const sent = body();
      const res = await c.api('patch', `/providers/${p.id}`, sent);
      await expectInvalid(res, field);
      if (typeof sent.api_key === 'string' && sent.api_key.length >= 8) expect(res.text).not.toContain(sent.api_key);
      expect(await c.snapshot()).toEqual(before);
    },
  );

  it('when a provider with a key is given a new base URL without the key again, then 422 naming api_key and nothing changes (active or inactive)', async () => {
    for (const status of ['active', 'inactive'] as const) {
      const key = apiKey();
      const p = await makeProvider(c.db, { status, key });
      const before = await c.snapshot();
      const res = await c.api('patch', `/providers/${p.id}`, { base_url: 'https://elsewhere.example.com/v1' });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.details, status).toMatchObject({ api_key: expect.any(String) });
      if (status === 'inactive') expect(Object.keys(res.body.details)).toEqual(['api_key']);
      expect(await c.snapshot()).toEqual(before);
    }
  });

  it('when the same slug, kind and base URL are sent back unchanged, then they are accepted (nothing to refuse) and the key stays', async () => {
    const key = apiKey();
    const p = await makeProvider(c.db, { status: 'active', key });
    const res = await c.api('patch', `/providers/${p.name}`, {
      name: p.name,
      kind: p.kind,
      base_url: p.base_url,
      display_name: 'Same otherwise',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ base_url: p.base_url, api_key_hint: hintOf(key), display_name: 'Same otherwise' });
  });

  it('when a new base URL comes with a new key, then 200: the base URL and the hint change and the new key is sealed', async () => {
    const [oldKey, key] = [apiKey('a1b2'), apiKey('c3d4')];
    const p = await makeProvider(c.db, { status: 'active', key: oldKey });
    const res = await c.api('patch', `/providers/${p.id}`, { base_url: 'https://elsewhere.example.com/v2', api_key: key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ base_url: 'https://elsewhere.example.com/v2', api_key_hint: '••••c3d4', status: 'active' });
    expect(res.text).not.toContain(key);
    expect(res.text).not.toContain(oldKey);
    const row = (await c.db('ai_providers').where({ id: p.id }).first())!;
    expect(row).toMatchObject({ base_url: 'https://elsewhere.example.com/v2', api_key_last4: 'c3d4' });
    expect(decryptSecret(TEST_SECRETS_KEY, row.api_key_ciphertext!, row.id)).toBe(key);
    const [audit] = await c.auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.updated',
      before: { base_url: p.base_url, api_key: '••••a1b2' },
      after: { base_url: 'https://elsewhere.example.com/v2', api_key: '••••c3d4' },
    });
    expect(JSON.stringify(audit)).not.toContain(key);
  });

  it('when the key of an active OpenAI-compatible provider is removed (api_key: null), then 422 and the key stays; deactivating and removing together is allowed', async () => {
    const key = apiKey();
    const p = await makeProvider(c.db, { status: 'active', key });
    const before = await c.snapshot();
    const res = await c.api('patch', `/providers/${p.id}`, { api_key: null });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(Object.keys(res.body.details), JSON.stringify(res.body)).toEqual(['api_key']);
    expect(res.body.details.api_key).toMatch(/deactivate it first/);
    expect(await c.snapshot()).toEqual(before);

    const ok = await c.api('patch', `/providers/${p.id}`, { api_key: null, status: 'inactive' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data).toMatchObject({ status: 'inactive', api_key_hint: null });
    const row = await c.db('ai_providers').where({ id: p.id }).first();
    expect(row).toMatchObject({ api_key_ciphertext: null, api_key_last4: null, status: 'inactive' });
    const [audit] = await c.auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.deactivated',
      before: { status: 'active', api_key: hintOf(key) },
      after: { status: 'inactive', api_key: null },
    });
  });

  it('when an inactive provider without key is activated, then 422 on status; with a key given in the same request it is activated and audited as provider.activated', async () => {
    const p = await makeProvider(c.db);
    const before = await c.snapshot();
    await expectInvalid(await c.api('patch', `/providers/${p.id}`, { status: 'active' }), 'status');
    expect(await c.snapshot()).toEqual(before);
    const key = apiKey();
    const res = await c.api('patch', `/providers/${p.id}`, { status: 'active', api_key: key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ status: 'active', api_key_hint: hintOf(key) });
    const [audit] = await c.auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.activated',
      before: { status: 'inactive', api_key: null },
      after: { status: 'active', api_key: hintOf(key) },
    });
  });

  it('when the display name is sent empty or an unknown field is sent, then 422 naming it, instead of a silent no-op', async () => {
    const p = await makeProvider(c.db);
    const before = await c.snapshot();
    await expectInvalid(await c.api('patch', `/providers/${p.id}`, { display_name: '' }), 'display_name');
    await expectInvalid(await c.api('patch', `/providers/${p.id}`, { display_name: '   ' }), 'display_name');
    await expectInvalid(await c.api('patch', `/providers/${p.id}`, { displayname: 'Typo' }), 'displayname');
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a provider serving features is deactivated or moved to a new base URL, then 409 naming them and nothing changes; with confirm it is done', async () => {
    const key = apiKey();
    const p = await makeProvider(c.db, { status: 'active', key });
    const m = await makeModel(c.db, { provider_id: p.id });
    const feature = await makeFeature(c.db, { display_name: `Ledger ${suffix()}` });
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'staging' });
    const before = await c.snapshot();
    for (const body of [{ status: 'inactive' }, { base_url: 'https://moved.example/v1', api_key: apiKey() }]) {
      const res = await c.api('patch', `/providers/${p.id}`, body);
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.details).toMatchObject({
        confirm_required: true,
        affected: [{ feature_name: feature.name, environment: 'staging' }],
      });
      expect(res.body.error).toContain(`${feature.display_name} (staging)`);
    }
    expect(await c.snapshot()).toEqual(before);
    const ok = await c.api('patch', `/providers/${p.id}`, { status: 'inactive', confirm: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data.status).toBe('inactive');
    // A provider serving nothing needs no confirmation.
    const idle = await makeProvider(c.db, { status: 'active', key: apiKey() });
    expect((await c.api('patch', `/providers/${idle.id}`, { status: 'inactive' })).status).toBe(200);
  });

  it('when a provider or a model is saved unchanged, then 200 and nothing is written, not even an audit entry', async () => {
    const p = await makeProvider(c.db, { status: 'inactive' });
    const m = await makeModel(c.db, { provider_id: p.id });
    const before = await c.snapshot();
    expect(
      (await c.api('patch', `/providers/${p.id}`, { display_name: p.display_name, base_url: p.base_url, status: 'inactive' })).status,
    ).toBe(200);
    expect(
      (
        await c.api('patch', `/models/${m.id}`, {
          display_name: m.display_name,
          status: m.status,
          input_price_per_1k: '0.001',
          output_price_per_1k: 0.002,
          context_window: 8192,
        })
      ).status,
    ).toBe(200);
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a simulator provider is given a base URL, then 422 on base_url', async () => {
    const created = await c.api('post', '/providers', { name: `sim-${suffix()}`, display_name: 'Sim', kind: 'simulator' }).expect(201);
    const before = await c.snapshot();
    await expectInvalid(await c.api('patch', `/providers/${created.body.data.id}`, { base_url: 'https://api.example.com/v1' }), 'base_url');
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a viewer session or a read token patches, then 403; no credentials 401; nothing is written', async () => {
    const p = await makeProvider(c.db);
    const before = await c.snapshot();
    await c.viewer.agent
      .patch(`${API}/providers/${p.id}`)
      .set('x-csrf-token', c.viewer.csrf)
      .send({ display_name: 'Viewer was here' })
      .expect(403);
    await c.api('patch', `/providers/${p.id}`, { display_name: 'Reader was here' }, c.readToken).expect(403);
    await c.api('patch', `/providers/${p.id}`, { display_name: 'Anonymous' }, null).expect(401);
    await c.viewer.agent.post(`${API}/providers/${p.id}/test`).set('x-csrf-token', c.viewer.csrf).send({}).expect(403);
    await c.api('post', `/providers/${p.id}/test`, {}, c.readToken).expect(403);
    expect(await c.snapshot()).toEqual(before);
    const res = await c.admin.agent
      .patch(`${API}/providers/${p.id}`)
      .set('x-csrf-token', c.admin.csrf)
      .send({ display_name: 'Admin was here' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await c.auditFor('provider', p.id))[0]).toMatchObject({ actor_type: 'user', actor_label: c.admin.user.email });
  });
});
