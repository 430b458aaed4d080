import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSecret } from '../../../src/providers/secrets.ts';
import { UNSAFE_URLS } from '../../providers/unsafe-urls.ts';
import { TEST_SECRETS_KEY } from '../../setup/app.ts';
import { apiKey, suffix } from '../../setup/factories.ts';
import type { Json } from '../../setup/rows.ts';
import { API, type Catalogue, expectInvalid, hintOf, openCatalogue, validProvider } from './setup.ts';

// POST /api/platform/ai-management/providers (SPEC §3, §6, §7): a provider added through the JSON API,
// its key sealed and shown back only as its last 4; every refusal writes nothing (whole tables).

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('post_providers');
});
afterAll(() => c?.close());

describe('POST /providers', () => {
  it("when the base URL is written in capitals or with a trailing slash, then it is stored as the parser spells it (no 500 on the table's check)", async () => {
    for (const [given, stored] of [
      ['HTTPS://API.Acme.example/V1/', 'https://api.acme.example/V1'],
      ['Http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ]) {
      const res = await c.api(
        'post',
        '/providers',
        validProvider({ name: `caps-${suffix()}`, base_url: given, status: 'inactive', api_key: undefined }),
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.data.base_url).toBe(stored);
      const row = () => c.db('ai_providers').where({ id: res.body.data.id }).first('base_url');
      expect(await row()).toEqual({ base_url: stored });
      const patched = await c.api('patch', `/providers/${res.body.data.id}`, {
        base_url: given.replace('8080', '9090').toUpperCase().replace('HTTP', 'hTTp'),
      });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(await row()).toEqual({ base_url: stored.replace('8080', '9090') });
    }
  });

  it('when an admin token adds an active OpenAI-compatible provider with a key, then it answers 201 with the key only as its last 4 characters, stores it sealed and audits it', async () => {
    const key = apiKey();
    const body = validProvider({ api_key: key, display_name: 'Acme AI  ' });
    const res = await c.api('post', '/providers', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({
      success: true,
      data: {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: body.name,
        display_name: 'Acme AI',
        kind: 'openai-compatible',
        base_url: 'https://api.acme.example/v1',
        status: 'active',
        api_key_hint: hintOf(key),
        model_count: 0,
      },
    });
    expect(res.text).not.toContain(key);

    const row = (await c.db('ai_providers').where({ id: res.body.data.id }).first())!;
    expect(row).toMatchObject({
      name: body.name,
      display_name: 'Acme AI',
      kind: 'openai-compatible',
      base_url: 'https://api.acme.example/v1',
      status: 'active',
      api_key_last4: key.slice(-4),
    });
    expect(Buffer.isBuffer(row.api_key_ciphertext)).toBe(true);
    expect(row.api_key_ciphertext!.includes(Buffer.from(key))).toBe(false);
    expect(decryptSecret(TEST_SECRETS_KEY, row.api_key_ciphertext!, row.id)).toBe(key);

    const audit = await c.auditFor('provider', row.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'provider.created',
      actor_type: 'token',
      actor_label: c.adminToken.label,
      before: null,
      after: {
        name: body.name,
        kind: 'openai-compatible',
        display_name: 'Acme AI',
        base_url: 'https://api.acme.example/v1',
        api_key: hintOf(key),
        status: 'active',
      },
    });
    expect(JSON.stringify(audit)).not.toContain(key);
  });

  it('when a simulator provider is added without base URL or key, then it is created (inactive by default) and an empty base URL stays null', async () => {
    const res = await c.api('post', '/providers', {
      name: `sim-${suffix()}`,
      display_name: 'Second simulator',
      kind: 'simulator',
      base_url: '',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({ kind: 'simulator', base_url: null, status: 'inactive', api_key_hint: null });
    const row = await c.db('ai_providers').where({ id: res.body.data.id }).first();
    expect(row).toMatchObject({ base_url: null, api_key_ciphertext: null, api_key_last4: null, status: 'inactive' });
  });

  it('when an inactive OpenAI-compatible provider is added without a key, then it is created without one', async () => {
    const res = await c.api('post', '/providers', validProvider({ api_key: undefined, status: 'inactive' }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({ status: 'inactive', api_key_hint: null });
  });

  const invalid: { label: string; body: () => Json; field: string }[] = [
    { label: 'a slug with capitals and an underscore', body: () => validProvider({ name: 'Bad_Slug' }), field: 'name' },
    { label: 'a slug starting with a dash', body: () => validProvider({ name: '-acme' }), field: 'name' },
    { label: 'a slug with a space', body: () => validProvider({ name: 'acme ai' }), field: 'name' },
    {
      label: 'a slug shaped like an id (it could never be reached by slug)',
      body: () => validProvider({ name: crypto.randomUUID() }),
      field: 'name',
    },
    { label: 'a slug of 64 characters', body: () => validProvider({ name: 'a'.repeat(64) }), field: 'name' },
    { label: 'a slug with a control character', body: () => validProvider({ name: 'acme\u0000' }), field: 'name' },
    { label: 'no slug', body: () => validProvider({ name: undefined }), field: 'name' },
    { label: 'no display name', body: () => validProvider({ display_name: undefined }), field: 'display_name' },
    { label: 'a blank display name', body: () => validProvider({ display_name: '   ' }), field: 'display_name' },
    { label: 'a display name with a NUL byte', body: () => validProvider({ display_name: 'Acme\u0000AI' }), field: 'display_name' },
    {
      label: 'a display name with an escape sequence',
      body: () => validProvider({ display_name: 'Acme \u001b[31mAI' }),
      field: 'display_name',
    },
    { label: 'a display name of 121 characters', body: () => validProvider({ display_name: 'x'.repeat(121) }), field: 'display_name' },
    { label: 'an unknown kind', body: () => validProvider({ kind: 'anthropic-native' }), field: 'kind' },
    { label: 'an OpenAI-compatible provider without base URL', body: () => validProvider({ base_url: undefined }), field: 'base_url' },
    { label: 'a simulator with a base URL', body: () => validProvider({ kind: 'simulator', api_key: undefined }), field: 'base_url' },
    ...UNSAFE_URLS.map(([label, base_url]) => ({
      label: `a base URL with ${label}`,
      body: () => validProvider({ base_url }),
      field: 'base_url',
    })),
    { label: 'a key shorter than 8 characters', body: () => validProvider({ api_key: 'sk-1234' }), field: 'api_key' },
    { label: 'a key with a space inside', body: () => validProvider({ api_key: 'sk-abc def-123456' }), field: 'api_key' },
    { label: 'a key with a line break inside', body: () => validProvider({ api_key: 'sk-abc\ndef-123456' }), field: 'api_key' },
    { label: 'status active without a key', body: () => validProvider({ api_key: undefined }), field: 'status' },
    { label: 'status error (not settable)', body: () => validProvider({ status: 'error' }), field: 'status' },
    { label: 'an unknown status', body: () => validProvider({ status: 'on' }), field: 'status' },
  ];
  it.each(invalid)('when the body has $label, then it answers 422 naming $field and writes nothing', async ({ body, field }) => {
    const before = await c.snapshot();
    const sent = body();
    const res = await c.api('post', '/providers', sent);
    await expectInvalid(res, field);
    if (typeof sent.api_key === 'string' && sent.api_key.length >= 8) expect(res.text).not.toContain(sent.api_key);
    expect(await c.snapshot()).toEqual(before);
  });

  it('when the slug is already taken, then it answers 409 naming the field, and the first provider is left as it was', async () => {
    const first = await c.api('post', '/providers', validProvider()).expect(201);
    const before = await c.snapshot();
    const res = await c.api('post', '/providers', validProvider({ name: first.body.data.name, display_name: 'Impostor' }));
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({ success: false, details: { name: expect.any(String) } });
    expect(await c.snapshot()).toEqual(before);
    expect((await c.db('ai_providers').where({ name: first.body.data.name }).first())?.display_name).toBe('Acme AI');
  });

  it('when a viewer session (with CSRF) or a read token posts, then 403; with no credentials 401; an admin session needs the CSRF token; nothing is written by any of them', async () => {
    const before = await c.snapshot();
    await c.viewer.agent.post(`${API}/providers`).set('x-csrf-token', c.viewer.csrf).send(validProvider()).expect(403);
    await c.api('post', '/providers', validProvider(), c.readToken).expect(403);
    await c.api('post', '/providers', validProvider(), null).expect(401);
    await c.api('post', '/providers', validProvider(), 'sb_not-a-real-token').expect(401);
    await c.admin.agent.post(`${API}/providers`).send(validProvider()).expect(403);
    expect(await c.snapshot()).toEqual(before);

    const body = validProvider();
    const res = await c.admin.agent.post(`${API}/providers`).set('x-csrf-token', c.admin.csrf).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [audit] = await c.auditFor('provider', res.body.data.id);
    expect(audit).toMatchObject({ action: 'provider.created', actor_type: 'user', actor_label: c.admin.user.email });
  });
});
