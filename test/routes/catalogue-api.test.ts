import crypto from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRollup } from '../../src/metrics/rollup.ts';
import { baseUrlProblem, guardedLookup, isForbiddenAddress } from '../../src/providers/base-url.ts';
import { openAiCompatible } from '../../src/providers/openai-compatible.ts';
import { decryptSecret, encryptSecret } from '../../src/providers/secrets.ts';
import { startTestApp, type TestContext, testConfig } from '../setup/app.ts';
import { makeFeature, makeToken, makeUser, suffix } from '../setup/factories.ts';
import { closedPort, fakeProvider } from '../setup/fake-provider.ts';
import { catalogueSnapshot, ownSeededDatabase } from '../setup/scratch-db.ts';
import { type Agent, csrfFor, signIn } from '../setup/session.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, mulberry32, type UsageEvent } from '../setup/usage-factory.ts';

// Issue 6: the providers and models of the catalogue through the JSON API (SPEC §3, §4, §6, §7).
// The file runs on a database of its own (migrated, reference data seeded), so "nothing written"
// can be checked on whole tables: every refusal leaves providers, models, audit log and health
// checks exactly as they were.

const BASE = '/api/platform/ai-management';
type Row = Record<string, any>;

let t: TestContext;
let dropDatabase: () => Promise<void>;
let admin: { token: string; label: string };
let readToken: string;
let adminUser: { email: string };
let adminAgent: Agent;
let adminCsrf: string;
let viewerAgent: Agent;
let viewerCsrf: string;
let simulatorId: string;

beforeAll(async () => {
  const own = await ownSeededDatabase('catalogue');
  dropDatabase = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  const key = await makeToken(t.db, 'admin');
  admin = { token: key.token, label: `token:${key.key.name}` };
  readToken = (await makeToken(t.db, 'read')).token;
  const [a, v] = [await makeUser(t.db, 'admin'), await makeUser(t.db, 'viewer')];
  adminUser = a;
  adminAgent = await signIn(t.app, a.email, a.password);
  adminCsrf = await csrfFor(adminAgent);
  viewerAgent = await signIn(t.app, v.email, v.password);
  viewerCsrf = await csrfFor(viewerAgent);
  simulatorId = (await t.db('ai_providers').where({ name: 'simulator' }).first('id')).id;
});
afterAll(async () => {
  await t?.close();
  await dropDatabase?.();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const api = (method: 'post' | 'patch' | 'get', path: string, body?: unknown, token: string | null = admin.token) => {
  let r = request(t.app)[method](`${BASE}${path}`);
  if (token) r = r.set('Authorization', `Bearer ${token}`);
  return body === undefined ? r : r.send(body as object);
};

const snapshot = () => catalogueSnapshot(t.db);

async function expectInvalid(res: request.Response, field: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.success).toBe(false);
  expect(typeof res.body.error).toBe('string');
  expect(Object.keys(res.body.details ?? {}), JSON.stringify(res.body)).toEqual([field]);
  expect(typeof res.body.details[field]).toBe('string');
  expect(res.body.details[field].length).toBeGreaterThan(0);
}

const newKey = (tail = crypto.randomBytes(2).toString('hex')) => `sk-live-${suffix()}${suffix()}${suffix()}-${tail}`;
const hintOf = (key: string) => `••••${key.slice(-4)}`;

/** An openai-compatible provider row of the test's own, written straight to the table. */
async function makeProvider(fields: Row = {}, key?: string): Promise<Row> {
  const name = `p-${suffix()}`;
  const id = crypto.randomUUID(); // the sealed key is bound to its provider's id
  const [row] = await t
    .db('ai_providers')
    .insert({
      id,
      name,
      display_name: `Provider ${name}`,
      kind: 'openai-compatible',
      base_url: 'https://api.example.com/v1',
      status: 'inactive',
      ...(key && { api_key_ciphertext: encryptSecret(testConfig().secretsKey, key, id), api_key_last4: key.slice(-4) }),
      ...fields,
    })
    .returning('*');
  return row;
}

async function makeModel(providerId: string, fields: Row = {}): Promise<Row> {
  const name = `m-${suffix()}`;
  const [row] = await t
    .db('ai_models')
    .insert({
      provider_id: providerId,
      name,
      display_name: `Model ${name}`,
      model_type: 'llm',
      status: 'available',
      input_price_per_1k: 0.001,
      output_price_per_1k: 0.002,
      context_window: 8192,
      ...fields,
    })
    .returning('*');
  return row;
}

async function assign(featureId: string, modelId: string, environment: string, active = true) {
  await t.db('feature_model_assignments').insert({
    feature_id: featureId,
    model_id: modelId,
    environment,
    is_active: active,
    assigned_by: 'test',
    ...(active ? {} : { deactivated_at: new Date() }),
  });
}

const auditFor = (entityType: string, entityId: string) =>
  t.db('audit_log').where({ entity_type: entityType, entity_id: entityId }).orderBy('id');

const validProvider = (fields: Row = {}): Row => ({
  name: `acme-${suffix()}`,
  display_name: 'Acme AI',
  kind: 'openai-compatible',
  base_url: 'https://api.acme.example/v1',
  api_key: newKey(),
  status: 'active',
  ...fields,
});

/** Base URLs that must be refused: not http(s), credentials or a query in them, link-local and metadata addresses. */
const UNSAFE_URLS: [string, unknown][] = [
  ['ftp scheme', 'ftp://files.example.com/v1'],
  ['javascript scheme', 'javascript:alert(1)'],
  ['file scheme', 'file:///etc/passwd'],
  ['no scheme at all', 'api.example.com/v1'],
  ['not text', 42],
  ['user:pass@ in the URL', 'https://user:pass@api.example.com/v1'],
  ['a query string', 'https://api.example.com/v1?api-version=2024-01-01'],
  ['a fragment', 'https://api.example.com/v1#models'],
  ['an empty query (the caller would choose the path)', 'https://api.example.com/v1?'],
  ['an empty fragment', 'https://api.example.com/v1#'],
  ['a tab in the host', 'http://exa\tmple.com/v1'],
  ['no slashes after the scheme', 'http:api.example.com'],
  ['the metadata address 169.254.169.254', 'http://169.254.169.254/latest/meta-data'],
  ['a link-local address 169.254.x.y', 'http://169.254.10.20/v1'],
  ['an IPv6 link-local address [fe80::1]', 'http://[fe80::1]/v1'],
  ['an IPv4-mapped metadata address [::ffff:169.254.169.254]', 'http://[::ffff:169.254.169.254]/v1'],
  ['the metadata address in decimal form', 'http://2852039166/'],
  ['the metadata address in hex form', 'http://0xa9fea9fe/'],
  ['the metadata name metadata.google.internal', 'http://metadata.google.internal/computeMetadata/v1'],
];

// ---------------------------------------------------------------------------------------------

describe('POST /providers', () => {
  it("when the base URL is written in capitals or with a trailing slash, then it is stored as the parser spells it (no 500 on the table's check)", async () => {
    for (const [given, stored] of [
      ['HTTPS://API.Acme.example/V1/', 'https://api.acme.example/V1'],
      ['Http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ]) {
      const res = await api(
        'post',
        '/providers',
        validProvider({ name: `caps-${suffix()}`, base_url: given, status: 'inactive', api_key: undefined }),
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.data.base_url).toBe(stored);
      const patched = await api('patch', `/providers/${res.body.data.id}`, {
        base_url: given.replace('8080', '9090').toUpperCase().replace('HTTP', 'hTTp'),
      });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    }
  });

  it('when an admin token adds an active OpenAI-compatible provider with a key, then it answers 201 with the key only as its last 4 characters, stores it sealed and audits it', async () => {
    const key = newKey();
    const body = validProvider({ api_key: key, display_name: 'Acme AI  ' });
    const res = await api('post', '/providers', body);
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

    const row = await t.db('ai_providers').where({ id: res.body.data.id }).first();
    expect(row).toMatchObject({
      name: body.name,
      display_name: 'Acme AI',
      kind: 'openai-compatible',
      base_url: 'https://api.acme.example/v1',
      status: 'active',
      api_key_last4: key.slice(-4),
    });
    expect(Buffer.isBuffer(row.api_key_ciphertext)).toBe(true);
    expect(row.api_key_ciphertext.includes(Buffer.from(key))).toBe(false);
    expect(decryptSecret(testConfig().secretsKey, row.api_key_ciphertext, row.id)).toBe(key);

    const audit = await auditFor('provider', row.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'provider.created',
      actor_type: 'token',
      actor_label: admin.label,
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
    const res = await api('post', '/providers', {
      name: `sim-${suffix()}`,
      display_name: 'Second simulator',
      kind: 'simulator',
      base_url: '',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({ kind: 'simulator', base_url: null, status: 'inactive', api_key_hint: null });
    const row = await t.db('ai_providers').where({ id: res.body.data.id }).first();
    expect(row).toMatchObject({ base_url: null, api_key_ciphertext: null, api_key_last4: null, status: 'inactive' });
  });

  it('when an inactive OpenAI-compatible provider is added without a key, then it is created without one', async () => {
    const res = await api('post', '/providers', validProvider({ api_key: undefined, status: 'inactive' }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({ status: 'inactive', api_key_hint: null });
  });

  const invalid: { label: string; body: () => Row; field: string }[] = [
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
    const before = await snapshot();
    const sent = body();
    const res = await api('post', '/providers', sent);
    await expectInvalid(res, field);
    if (typeof sent.api_key === 'string' && sent.api_key.length >= 8) expect(res.text).not.toContain(sent.api_key);
    expect(await snapshot()).toEqual(before);
  });

  it('when the slug is already taken, then it answers 409 naming the field, and the first provider is left as it was', async () => {
    const first = await api('post', '/providers', validProvider()).expect(201);
    const before = await snapshot();
    const res = await api('post', '/providers', validProvider({ name: first.body.data.name, display_name: 'Impostor' }));
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({ success: false, details: { name: expect.any(String) } });
    expect(await snapshot()).toEqual(before);
    expect((await t.db('ai_providers').where({ name: first.body.data.name }).first()).display_name).toBe('Acme AI');
  });

  it('when a viewer session (with CSRF) or a read token posts, then 403; with no credentials 401; an admin session needs the CSRF token; nothing is written by any of them', async () => {
    const before = await snapshot();
    await viewerAgent.post(`${BASE}/providers`).set('x-csrf-token', viewerCsrf).send(validProvider()).expect(403);
    await api('post', '/providers', validProvider(), readToken).expect(403);
    await api('post', '/providers', validProvider(), null).expect(401);
    await api('post', '/providers', validProvider(), 'sb_not-a-real-token').expect(401);
    await adminAgent.post(`${BASE}/providers`).send(validProvider()).expect(403);
    expect(await snapshot()).toEqual(before);

    const body = validProvider();
    const res = await adminAgent.post(`${BASE}/providers`).set('x-csrf-token', adminCsrf).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [audit] = await auditFor('provider', res.body.data.id);
    expect(audit).toMatchObject({ action: 'provider.created', actor_type: 'user', actor_label: adminUser.email });
  });
});

describe('PATCH /providers/:id', () => {
  it('when the display name is changed by slug and again by uuid, then both answer 200 and each change is audited with before and after', async () => {
    const key = newKey();
    const p = await makeProvider({ status: 'active' }, key);
    const bySlug = await api('patch', `/providers/${p.name}`, { display_name: 'Renamed once' });
    expect(bySlug.status, JSON.stringify(bySlug.body)).toBe(200);
    expect(bySlug.body.data).toMatchObject({
      id: p.id,
      name: p.name,
      display_name: 'Renamed once',
      status: 'active',
      api_key_hint: hintOf(key),
      base_url: p.base_url,
    });
    const byId = await api('patch', `/providers/${p.id}`, { display_name: 'Renamed twice' }).expect(200);
    expect(byId.body.data.display_name).toBe('Renamed twice');
    const row = await t.db('ai_providers').where({ id: p.id }).first();
    expect(row.display_name).toBe('Renamed twice');
    expect(row.api_key_ciphertext.equals(p.api_key_ciphertext)).toBe(true); // the key is kept
    const audit = await auditFor('provider', p.id);
    expect(audit.map((a) => a.action)).toEqual(['provider.updated', 'provider.updated']);
    expect(audit[0]).toMatchObject({
      actor_label: admin.label,
      before: { display_name: p.display_name, base_url: p.base_url, api_key: hintOf(key), status: 'active' },
      after: { display_name: 'Renamed once', base_url: p.base_url, api_key: hintOf(key), status: 'active' },
    });
    expect(audit[1]).toMatchObject({ before: { display_name: 'Renamed once' }, after: { display_name: 'Renamed twice' } });
  });

  it('when the provider is unknown (uuid or slug), then 404 and nothing is written', async () => {
    const before = await snapshot();
    for (const id of [crypto.randomUUID(), `nobody-${suffix()}`]) {
      const res = await api('patch', `/providers/${id}`, { display_name: 'Ghost' });
      expect(res.status).toBe(404);
      expect(res.body.success).toBe(false);
    }
    await api('post', `/providers/${crypto.randomUUID()}/test`, {}).expect(404);
    expect(await snapshot()).toEqual(before);
  });

  const invalid: { label: string; body: () => Row; field: string }[] = [
    { label: 'a new slug', body: () => ({ name: `renamed-${suffix()}` }), field: 'name' },
    { label: 'a new kind', body: () => ({ kind: 'simulator' }), field: 'kind' },
    { label: 'a display name with a control character', body: () => ({ display_name: 'Bad\u0007name' }), field: 'display_name' },
    { label: 'a display name of 121 characters', body: () => ({ display_name: 'y'.repeat(121) }), field: 'display_name' },
    ...UNSAFE_URLS.map(([label, base_url]) => ({
      label: `a base URL with ${label} (and a key)`,
      body: () => ({ base_url, api_key: newKey() }),
      field: 'base_url',
    })),
    { label: 'a short key', body: () => ({ api_key: 'short' }), field: 'api_key' },
    { label: 'a key with a space', body: () => ({ api_key: 'sk-has space-123456' }), field: 'api_key' },
    { label: 'status error', body: () => ({ status: 'error' }), field: 'status' },
  ];
  it.each(invalid)(
    'when an active provider with a key is sent $label, then 422 naming $field and the row is unchanged',
    async ({ body, field }) => {
      const p = await makeProvider({ status: 'active' }, newKey());
      const before = await snapshot();
      const sent = body();
      const res = await api('patch', `/providers/${p.id}`, sent);
      await expectInvalid(res, field);
      if (typeof sent.api_key === 'string' && sent.api_key.length >= 8) expect(res.text).not.toContain(sent.api_key);
      expect(await snapshot()).toEqual(before);
    },
  );

  it('when a provider with a key is given a new base URL without the key again, then 422 naming api_key and nothing changes (active or inactive)', async () => {
    for (const status of ['active', 'inactive']) {
      const key = newKey();
      const p = await makeProvider({ status }, key);
      const before = await snapshot();
      const res = await api('patch', `/providers/${p.id}`, { base_url: 'https://elsewhere.example.com/v1' });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.details, status).toMatchObject({ api_key: expect.any(String) });
      if (status === 'inactive') expect(Object.keys(res.body.details)).toEqual(['api_key']);
      expect(await snapshot()).toEqual(before);
    }
  });

  it('when the same slug, kind and base URL are sent back unchanged, then they are accepted (nothing to refuse) and the key stays', async () => {
    const key = newKey();
    const p = await makeProvider({ status: 'active' }, key);
    const res = await api('patch', `/providers/${p.name}`, {
      name: p.name,
      kind: p.kind,
      base_url: p.base_url,
      display_name: 'Same otherwise',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ base_url: p.base_url, api_key_hint: hintOf(key), display_name: 'Same otherwise' });
  });

  it('when a new base URL comes with a new key, then 200: the base URL and the hint change and the new key is sealed', async () => {
    const [oldKey, key] = [newKey('a1b2'), newKey('c3d4')];
    const p = await makeProvider({ status: 'active' }, oldKey);
    const res = await api('patch', `/providers/${p.id}`, { base_url: 'https://elsewhere.example.com/v2', api_key: key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ base_url: 'https://elsewhere.example.com/v2', api_key_hint: '••••c3d4', status: 'active' });
    expect(res.text).not.toContain(key);
    expect(res.text).not.toContain(oldKey);
    const row = await t.db('ai_providers').where({ id: p.id }).first();
    expect(row).toMatchObject({ base_url: 'https://elsewhere.example.com/v2', api_key_last4: 'c3d4' });
    expect(decryptSecret(testConfig().secretsKey, row.api_key_ciphertext, row.id)).toBe(key);
    const [audit] = await auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.updated',
      before: { base_url: p.base_url, api_key: '••••a1b2' },
      after: { base_url: 'https://elsewhere.example.com/v2', api_key: '••••c3d4' },
    });
    expect(JSON.stringify(audit)).not.toContain(key);
  });

  it('when the key of an active OpenAI-compatible provider is removed (api_key: null), then 422 and the key stays; deactivating and removing together is allowed', async () => {
    const key = newKey();
    const p = await makeProvider({ status: 'active' }, key);
    const before = await snapshot();
    const res = await api('patch', `/providers/${p.id}`, { api_key: null });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(Object.keys(res.body.details), JSON.stringify(res.body)).toEqual(['api_key']);
    expect(res.body.details.api_key).toMatch(/deactivate it first/);
    expect(await snapshot()).toEqual(before);

    const ok = await api('patch', `/providers/${p.id}`, { api_key: null, status: 'inactive' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data).toMatchObject({ status: 'inactive', api_key_hint: null });
    const row = await t.db('ai_providers').where({ id: p.id }).first();
    expect(row).toMatchObject({ api_key_ciphertext: null, api_key_last4: null, status: 'inactive' });
    const [audit] = await auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.deactivated',
      before: { status: 'active', api_key: hintOf(key) },
      after: { status: 'inactive', api_key: null },
    });
  });

  it('when an inactive provider without key is activated, then 422 on status; with a key given in the same request it is activated and audited as provider.activated', async () => {
    const p = await makeProvider();
    const before = await snapshot();
    await expectInvalid(await api('patch', `/providers/${p.id}`, { status: 'active' }), 'status');
    expect(await snapshot()).toEqual(before);
    const key = newKey();
    const res = await api('patch', `/providers/${p.id}`, { status: 'active', api_key: key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ status: 'active', api_key_hint: hintOf(key) });
    const [audit] = await auditFor('provider', p.id);
    expect(audit).toMatchObject({
      action: 'provider.activated',
      before: { status: 'inactive', api_key: null },
      after: { status: 'active', api_key: hintOf(key) },
    });
  });

  it('when the display name is sent empty or an unknown field is sent, then 422 naming it, instead of a silent no-op', async () => {
    const p = await makeProvider();
    const before = await snapshot();
    await expectInvalid(await api('patch', `/providers/${p.id}`, { display_name: '' }), 'display_name');
    await expectInvalid(await api('patch', `/providers/${p.id}`, { display_name: '   ' }), 'display_name');
    await expectInvalid(await api('patch', `/providers/${p.id}`, { displayname: 'Typo' }), 'displayname');
    expect(await snapshot()).toEqual(before);
  });

  it('when a provider serving features is deactivated or moved to a new base URL, then 409 naming them and nothing changes; with confirm it is done', async () => {
    const key = newKey();
    const p = await makeProvider({ status: 'active' }, key);
    const m = await makeModel(p.id);
    const feature = await makeFeature(t.db, { display_name: `Ledger ${suffix()}` });
    await assign(feature.id, m.id, 'staging');
    const before = await snapshot();
    for (const body of [{ status: 'inactive' }, { base_url: 'https://moved.example/v1', api_key: newKey() }]) {
      const res = await api('patch', `/providers/${p.id}`, body);
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.details).toMatchObject({
        confirm_required: true,
        affected: [{ feature_name: feature.name, environment: 'staging' }],
      });
      expect(res.body.error).toContain(`${feature.display_name} (staging)`);
    }
    expect(await snapshot()).toEqual(before);
    const ok = await api('patch', `/providers/${p.id}`, { status: 'inactive', confirm: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data.status).toBe('inactive');
    // A provider serving nothing needs no confirmation.
    const idle = await makeProvider({ status: 'active' }, newKey());
    expect((await api('patch', `/providers/${idle.id}`, { status: 'inactive' })).status).toBe(200);
  });

  it('when a provider or a model is saved unchanged, then 200 and nothing is written, not even an audit entry', async () => {
    const p = await makeProvider({ status: 'inactive' });
    const m = await makeModel(p.id);
    const before = await snapshot();
    expect(
      (await api('patch', `/providers/${p.id}`, { display_name: p.display_name, base_url: p.base_url, status: 'inactive' })).status,
    ).toBe(200);
    expect(
      (
        await api('patch', `/models/${m.id}`, {
          display_name: m.display_name,
          status: m.status,
          input_price_per_1k: '0.001',
          output_price_per_1k: 0.002,
          context_window: 8192,
        })
      ).status,
    ).toBe(200);
    expect(await snapshot()).toEqual(before);
  });

  it('when a simulator provider is given a base URL, then 422 on base_url', async () => {
    const created = await api('post', '/providers', { name: `sim-${suffix()}`, display_name: 'Sim', kind: 'simulator' }).expect(201);
    const before = await snapshot();
    await expectInvalid(await api('patch', `/providers/${created.body.data.id}`, { base_url: 'https://api.example.com/v1' }), 'base_url');
    expect(await snapshot()).toEqual(before);
  });

  it('when a viewer session or a read token patches, then 403; no credentials 401; nothing is written', async () => {
    const p = await makeProvider();
    const before = await snapshot();
    await viewerAgent
      .patch(`${BASE}/providers/${p.id}`)
      .set('x-csrf-token', viewerCsrf)
      .send({ display_name: 'Viewer was here' })
      .expect(403);
    await api('patch', `/providers/${p.id}`, { display_name: 'Reader was here' }, readToken).expect(403);
    await api('patch', `/providers/${p.id}`, { display_name: 'Anonymous' }, null).expect(401);
    await viewerAgent.post(`${BASE}/providers/${p.id}/test`).set('x-csrf-token', viewerCsrf).send({}).expect(403);
    await api('post', `/providers/${p.id}/test`, {}, readToken).expect(403);
    expect(await snapshot()).toEqual(before);
    const res = await adminAgent.patch(`${BASE}/providers/${p.id}`).set('x-csrf-token', adminCsrf).send({ display_name: 'Admin was here' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect((await auditFor('provider', p.id))[0]).toMatchObject({ actor_type: 'user', actor_label: adminUser.email });
  });
});

describe('provider keys are never shown', () => {
  it('when a key is set and replaced through the API, then no response (POST, PATCH, GET list, test), page, log, audit row or database column holds it, and the stored ciphertext opens to it', async () => {
    const server = await fakeProvider((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ object: 'list', data: [] }));
    });
    try {
      const [first, second] = [newKey('k1k1'), newKey('k2k2')];
      const texts: string[] = [];
      const created = await api('post', '/providers', validProvider({ api_key: first, base_url: server.url }));
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.data.id;
      texts.push(created.text);
      texts.push((await api('patch', `/providers/${id}`, { display_name: 'Keyed provider' }).expect(200)).text);
      // "Test connection" sends the key to the provider it belongs to, and to nobody else.
      const tested = await api('post', `/providers/${id}/test`, {}).expect(200);
      texts.push(tested.text);
      expect(tested.body.data.ok).toBe(true);
      expect(server.hits).toEqual([{ method: 'GET', url: '/v1/models', auth: `Bearer ${first}` }]);
      const replaced = await adminAgent.patch(`${BASE}/providers/${id}`).set('x-csrf-token', adminCsrf).send({ api_key: second });
      expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
      expect(replaced.body.data.api_key_hint).toBe('••••k2k2');
      texts.push(replaced.text);
      // A refused change that carried a key does not echo it either.
      const refused = await api('patch', `/providers/${id}`, { base_url: 'http://169.254.169.254/', api_key: first });
      expect(refused.status).toBe(422);
      texts.push(refused.text);
      const list = await api('get', '/providers').expect(200);
      expect(list.body.data.find((p: Row) => p.id === id)).toMatchObject({ api_key_hint: '••••k2k2' });
      texts.push(list.text, (await api('get', '/providers?include_metrics=true').expect(200)).text);
      texts.push((await api('get', '/models').expect(200)).text);
      const page = await adminAgent.get('/platform/ai-management/models?tab=providers');
      expect(page.status).toBe(200);
      texts.push(page.text);

      const row = await t.db('ai_providers').where({ id }).first();
      expect(row.api_key_last4).toBe('k2k2');
      expect(decryptSecret(testConfig().secretsKey, row.api_key_ciphertext, row.id)).toBe(second);
      for (const key of [first, second]) {
        for (const text of texts) expect(text).not.toContain(key);
        expect(row.api_key_ciphertext.includes(Buffer.from(key))).toBe(false);
        expect(t.logs()).not.toContain(key);
        expect(JSON.stringify(await auditFor('provider', id))).not.toContain(key);
        // Every row of every table, as text and as the hex a bytea column would show.
        const hex = Buffer.from(key).toString('hex');
        const { rows: tables } = await t.db.raw(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
        );
        expect(tables.length).toBeGreaterThan(5);
        for (const { table_name } of tables) {
          const { rows } = await t.db.raw(
            `SELECT count(*)::int AS n FROM "${table_name}" r WHERE strpos(r::text, ?) > 0 OR strpos(r::text, ?) > 0`,
            [key, hex],
          );
          expect(rows[0].n, `${table_name} holds the key`).toBe(0);
        }
      }
      expect(t.logs()).not.toContain(row.api_key_ciphertext.toString('base64'));
      expect(t.logs()).not.toContain(row.api_key_ciphertext.toString('hex'));
    } finally {
      await server.close();
    }
  });
});

describe('POST /providers/:id/test (Test connection)', () => {
  it('when the provider is a simulator, then it answers ok and stores a manual health check with status ok', async () => {
    const created = await api('post', '/providers', {
      name: `sim-${suffix()}`,
      display_name: 'Sim for test',
      kind: 'simulator',
      status: 'active',
    }).expect(201);
    const id = created.body.data.id;
    const res = await api('post', `/providers/${created.body.data.name}/test`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ success: true, data: { ok: true, latency_ms: expect.any(Number), error: null } });
    const checks = await t.db('health_checks').where({ provider_id: id });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ kind: 'manual', status: 'ok', error: null, model_id: null, latency_ms: res.body.data.latency_ms });
  });

  it('when the base URL is a loopback port nothing listens on, then it answers ok:false with the reason and stores the error', async () => {
    const p = await makeProvider({ base_url: `http://127.0.0.1:${await closedPort()}/v1`, status: 'active' }, newKey());
    const res = await api('post', `/providers/${p.id}/test`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.any(String) });
    expect(res.body.data.error.length).toBeGreaterThan(0);
    const checks = await t.db('health_checks').where({ provider_id: p.id });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ kind: 'manual', status: 'error', error: res.body.data.error });
  });

  it('when the provider answers 503, or a redirect, then the test fails with that reason, the redirect is not followed and the errors are stored', async () => {
    const target = await fakeProvider((_req, res) => res.end('{"data":[]}'));
    const failing = await fakeProvider((_req, res) => {
      res.statusCode = 503;
      res.end('{"error":{"message":"down"}}');
    });
    const redirecting = await fakeProvider((_req, res) => {
      res.statusCode = 302;
      res.setHeader('Location', `${target.url}/models`);
      res.end();
    });
    try {
      const down = await makeProvider({ base_url: failing.url, status: 'active' }, newKey());
      const moved = await makeProvider({ base_url: redirecting.url, status: 'active' }, newKey());
      const a = await api('post', `/providers/${down.id}/test`, {}).expect(200);
      expect(a.body.data).toMatchObject({ ok: false, error: expect.stringContaining('503') });
      const b = await api('post', `/providers/${moved.id}/test`, {}).expect(200);
      expect(b.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/redirect/) });
      expect(target.hits).toEqual([]);
      expect(
        await t.db('health_checks').whereIn('provider_id', [down.id, moved.id]).orderBy('id').select('kind', 'status', 'error'),
      ).toEqual([
        { kind: 'manual', status: 'error', error: a.body.data.error },
        { kind: 'manual', status: 'error', error: b.body.data.error },
      ]);
    } finally {
      await Promise.all([target.close(), failing.close(), redirecting.close()]);
    }
  });

  it('when a stored base URL points to a link-local address (written before validation existed), then the adapter refuses to call it and the refusal is stored', async () => {
    const p = await makeProvider({ base_url: 'http://169.254.7.7/latest', status: 'active' }, newKey());
    const res = await api('post', `/providers/${p.id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    expect(await t.db('health_checks').where({ provider_id: p.id }).select('kind', 'status', 'error')).toEqual([
      { kind: 'manual', status: 'error', error: res.body.data.error },
    ]);
  });
});

describe('base URL safety (unit)', () => {
  it('isForbiddenAddress: link-local and metadata addresses, in every spelling, are forbidden; ordinary addresses are not', () => {
    for (const a of [
      '169.254.169.254',
      '169.254.0.1',
      '169.254.255.255',
      '[fe80::1]',
      'fe80::1',
      'FE80::abcd',
      'febf::1',
      '::ffff:169.254.169.254',
      '100.100.100.200',
      'fd00:ec2::254',
    ]) {
      expect(isForbiddenAddress(a), a).toBe(true);
    }
    for (const a of [
      '10.0.0.1',
      '127.0.0.1',
      '192.168.1.1',
      '169.253.255.255',
      '169.255.0.1',
      '::1',
      'fec0::1',
      '2001:db8::1',
      '8.8.8.8',
    ]) {
      expect(isForbiddenAddress(a), a).toBe(false);
    }
  });

  it('isForbiddenAddress: the IPv4-mapped metadata address in the hex form URLs normalise it to (::ffff:a9fe:a9fe) is forbidden too', () => {
    expect(new URL('http://[::ffff:169.254.169.254]/').hostname).toBe('[::ffff:a9fe:a9fe]');
    expect(isForbiddenAddress('::ffff:a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('[::ffff:a9fe:a9fe]')).toBe(true);
    expect(isForbiddenAddress('::ffff:a9fe:1')).toBe(true); // 169.254.0.1
    // IPv4-translated and the local-use NAT64 prefix carry an IPv4 address too.
    expect(isForbiddenAddress('::ffff:0:a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('64:ff9b:1::a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('64:ff9b:1::808:808')).toBe(false);
  });

  it('baseUrlProblem: every unsafe URL has a problem; https and http URLs of ordinary hosts have none', () => {
    for (const [label, url] of UNSAFE_URLS)
      if (typeof url === 'string') expect.soft(baseUrlProblem(url), label).toEqual(expect.any(String));
    for (const url of [
      'https://api.openai.com/v1',
      'http://127.0.0.1:8080/v1',
      'https://generativelanguage.googleapis.com/v1beta/openai',
      'http://[2001:db8::1]:8443/v1',
    ]) {
      expect(baseUrlProblem(url), url).toBeNull();
    }
    expect(baseUrlProblem('http://METADATA.google.internal./')).toEqual(expect.any(String));
    expect(baseUrlProblem('http://169.254.169.254./')).toEqual(expect.any(String));
  });

  it('the adapter refuses a forbidden address at call time, before any request: IP literals, and names whose lookup answers one (pinned, no second lookup)', async () => {
    // Addresses the check refuses (never the metadata service itself), so no request leaves.
    for (const baseUrl of ['http://169.254.7.7/v1', 'http://[fe80::1]/v1', 'http://[::ffff:169.254.7.7]/v1']) {
      const result = await openAiCompatible({ baseUrl, apiKey: 'sk-never-sent-anywhere', timeoutMs: 300 }).probe();
      expect(result, baseUrl).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    }
    // A name whose (fake) resolver answers a metadata address alongside a good one: refused, nothing sent.
    const provider = await fakeProvider((_req, res) => res.end('{"data":[]}'));
    const port = new URL(provider.url).port;
    const calls: string[] = [];
    const resolver = (answers: Record<string, string[]>) =>
      guardedLookup((hostname, _options, callback) => {
        calls.push(hostname);
        callback(
          null,
          (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
        );
      });
    const rebinding = resolver({ 'rebind.test': ['127.0.0.1', '169.254.169.254'] });
    const refused = await openAiCompatible({
      baseUrl: `http://rebind.test:${port}/v1`,
      apiKey: 'sk-x',
      timeoutMs: 1000,
      lookup: rebinding,
    }).probe();
    expect(refused).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    expect(provider.hits).toHaveLength(0);
    // A name that resolves to an allowed address is connected to at exactly that address, resolved once.
    calls.length = 0;
    const good = await openAiCompatible({
      baseUrl: `http://good.test:${port}/v1`,
      timeoutMs: 1000,
      lookup: resolver({ 'good.test': ['127.0.0.1'] }),
    }).probe();
    expect(good).toMatchObject({ ok: true });
    expect(provider.hits).toHaveLength(1);
    expect(calls).toEqual(['good.test']);
    // A lookup that fails fails the call: closed, never open.
    const failing = guardedLookup((_h, _o, callback) => callback(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' }), []));
    expect(await openAiCompatible({ baseUrl: `http://flaky.test:${port}/v1`, timeoutMs: 1000, lookup: failing }).probe()).toMatchObject({
      ok: false,
    });
    expect(provider.hits).toHaveLength(1);
    await provider.close();
  });
});

describe('POST /models', () => {
  let provider: Row;
  beforeAll(async () => {
    provider = await makeProvider();
  });
  const validModel = (fields: Row = {}): Row => ({
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
    const res = await api('post', '/models', body);
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
    const row = await t.db('ai_models').where({ id: res.body.data.id }).first();
    expect(row).toMatchObject({ provider_id: provider.id, name: body.name, status: 'beta', context_window: 128000 });
    expect(Number(row.input_price_per_1k)).toBe(0.0015);
    const audit = await auditFor('model', row.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.created',
      actor_label: admin.label,
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

    const byId = await api(
      'post',
      '/models',
      validModel({ provider: provider.id, input_price_per_1k: '0.5', output_price_per_1k: '0', context_window: '4096', status: '' }),
    );
    expect(byId.status, JSON.stringify(byId.body)).toBe(201);
    expect(byId.body.data).toMatchObject({ status: 'available', context_window: 4096, pricing: { input_per_1k: 0.5, output_per_1k: 0 } });
    const listed = await api('get', `/models?provider=${provider.name}`).expect(200);
    expect(listed.body.data.map((m: Row) => m.id).sort()).toEqual([res.body.data.id, byId.body.data.id].sort());
  });

  const invalid: { label: string; body: () => Row; field: string }[] = [
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
    const before = await snapshot();
    await expectInvalid(await api('post', '/models', body()), field);
    expect(await snapshot()).toEqual(before);
  });

  it('when the provider already has a model of that name, then 409 naming the field; another provider may use the name', async () => {
    const body = validModel();
    await api('post', '/models', body).expect(201);
    const before = await snapshot();
    const res = await api('post', '/models', { ...body, display_name: 'Duplicate' });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body).toMatchObject({ success: false, details: { name: expect.any(String) } });
    expect(await snapshot()).toEqual(before);
    const other = await makeProvider();
    await api('post', '/models', { ...body, provider: other.name }).expect(201);
  });

  it('when a viewer session or a read token posts, then 403; no credentials 401; nothing is written', async () => {
    const before = await snapshot();
    await viewerAgent.post(`${BASE}/models`).set('x-csrf-token', viewerCsrf).send(validModel()).expect(403);
    await api('post', '/models', validModel(), readToken).expect(403);
    await api('post', '/models', validModel(), null).expect(401);
    expect(await snapshot()).toEqual(before);
    const res = await adminAgent.post(`${BASE}/models`).set('x-csrf-token', adminCsrf).send(validModel());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});

describe('PATCH /models/:id', () => {
  let provider: Row;
  beforeAll(async () => {
    provider = await makeProvider();
  });

  it('when display name, status, prices and context window change, then 200 with the new values, and the audit has before and after', async () => {
    const m = await makeModel(provider.id);
    const res = await api('patch', `/models/${m.id}`, {
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
    const row = await t.db('ai_models').where({ id: m.id }).first();
    expect(row).toMatchObject({ display_name: 'Acme Chat v2', status: 'beta', context_window: 32000 });
    expect([Number(row.input_price_per_1k), Number(row.output_price_per_1k)]).toEqual([0.25, 0.75]);
    const audit = await auditFor('model', m.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.updated',
      actor_label: admin.label,
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
    const same = await api('patch', `/models/${m.id}`, {
      name: m.name,
      model_type: 'llm',
      provider: provider.name,
      display_name: 'Acme Chat v3',
    });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
  });

  it('when the model is unknown (random uuid or not a uuid), then 404 and nothing is written', async () => {
    const before = await snapshot();
    for (const id of [crypto.randomUUID(), 'not-a-model']) {
      const res = await api('patch', `/models/${id}`, { display_name: 'Ghost' });
      expect(res.status).toBe(404);
      expect(res.body.success).toBe(false);
    }
    expect(await snapshot()).toEqual(before);
  });

  const invalid: { label: string; body: () => Row; field: string }[] = [
    { label: 'a new name', body: () => ({ name: `other-${suffix()}` }), field: 'name' },
    { label: 'a new model type', body: () => ({ model_type: 'embedding' }), field: 'model_type' },
    { label: 'another provider by slug', body: () => ({ provider: 'simulator' }), field: 'provider' },
    { label: 'another provider by uuid', body: () => ({ provider: simulatorId }), field: 'provider' },
    { label: 'an unknown status', body: () => ({ status: 'gone' }), field: 'status' },
    { label: 'a display name with a control character', body: () => ({ display_name: 'Bad\u0000name' }), field: 'display_name' },
    { label: 'a negative input price', body: () => ({ input_price_per_1k: -1 }), field: 'input_price_per_1k' },
    { label: 'a non-numeric output price', body: () => ({ output_price_per_1k: 'free' }), field: 'output_price_per_1k' },
    { label: 'a price finer than the 6 decimals stored', body: () => ({ input_price_per_1k: '0.0000004' }), field: 'input_price_per_1k' },
    { label: 'a context window of 0', body: () => ({ context_window: 0 }), field: 'context_window' },
    { label: 'a fractional context window', body: () => ({ context_window: 2.5 }), field: 'context_window' },
  ];
  it.each(invalid)('when the change has $label, then 422 naming $field and the model is unchanged', async ({ body, field }) => {
    const m = await makeModel(provider.id);
    const before = await snapshot();
    await expectInvalid(await api('patch', `/models/${m.id}`, body()), field);
    expect(await snapshot()).toEqual(before);
  });

  it('when the model is named by its name (SPEC §6: uuid or slug), then it is changed if one provider has that name, and 409 listing the ids when several do', async () => {
    const m = await makeModel(provider.id);
    const res = await api('patch', `/models/${encodeURIComponent(m.name)}`, { display_name: 'By name' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ id: m.id, display_name: 'By name' });
    const twin = await makeModel((await makeProvider()).id, { name: m.name });
    const before = await snapshot();
    const ambiguous = await api('patch', `/models/${encodeURIComponent(m.name)}`, { display_name: 'Which one?' });
    expect(ambiguous.status, JSON.stringify(ambiguous.body)).toBe(409);
    expect(ambiguous.body.details.candidates.map((c: Row) => c.id).sort()).toEqual([m.id, twin.id].sort());
    expect(await snapshot()).toEqual(before);
  });

  it('when the display name is sent empty or an unknown field is sent, then 422 naming it and the model is unchanged', async () => {
    const m = await makeModel(provider.id);
    const before = await snapshot();
    await expectInvalid(await api('patch', `/models/${m.id}`, { display_name: '' }), 'display_name');
    await expectInvalid(await api('patch', `/models/${m.id}`, { price: 3 }), 'price');
    expect(await snapshot()).toEqual(before);
  });

  it('when a model serving production is deprecated, then 409 naming the feature and nothing changes; with confirm it is deprecated and the response lists what is out of service', async () => {
    const m = await makeModel(provider.id);
    const feature = await makeFeature(t.db, { display_name: `Invoice Reader ${suffix()}` });
    await assign(feature.id, m.id, 'production');
    await assign(feature.id, m.id, 'staging');
    const before = await snapshot();
    const res = await api('patch', `/models/${m.id}`, { status: 'deprecated', display_name: 'Renamed meanwhile' });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body.success).toBe(false);
    expect(res.body.error).toContain(feature.display_name);
    expect(res.body.error).toContain('production');
    expect(res.body.details).toEqual({
      confirm_required: true,
      affected: [{ feature_name: feature.name, feature_display_name: feature.display_name, environment: 'production' }],
    });
    expect(await snapshot()).toEqual(before);

    const ok = await api('patch', `/models/${m.id}`, { status: 'deprecated', confirm: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.data.status).toBe('deprecated');
    expect(ok.body.metadata).toEqual({
      out_of_service: [{ feature_name: feature.name, feature_display_name: feature.display_name, environment: 'production' }],
    });
    expect((await t.db('ai_models').where({ id: m.id }).first()).status).toBe('deprecated');
    // The assignments stay: the product keeps calling the model until someone moves the feature.
    expect(await t.db('feature_model_assignments').where({ model_id: m.id, is_active: true }).count({ n: '*' })).toEqual([{ n: 2 }]);
    const audit = await auditFor('model', m.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      action: 'model.updated',
      before: { status: 'available' },
      after: { status: 'deprecated', affected: [{ feature_name: feature.name, environment: 'production' }] },
    });
  });

  it('when a model serving only staging is taken offline, then 409 naming staging; deprecating it there needs no confirmation', async () => {
    const m = await makeModel(provider.id);
    const feature = await makeFeature(t.db);
    await assign(feature.id, m.id, 'staging');
    const before = await snapshot();
    const offline = await api('patch', `/models/${m.id}`, { status: 'offline' });
    expect(offline.status, JSON.stringify(offline.body)).toBe(409);
    expect(offline.body.details).toMatchObject({
      confirm_required: true,
      affected: [{ feature_name: feature.name, environment: 'staging' }],
    });
    expect(offline.body.error).toContain('staging');
    expect(await snapshot()).toEqual(before);

    const deprecated = await api('patch', `/models/${m.id}`, { status: 'deprecated' });
    expect(deprecated.status, JSON.stringify(deprecated.body)).toBe(200);
    expect(deprecated.body.data.status).toBe('deprecated');
    expect(deprecated.body.metadata).toBeUndefined();
    expect(deprecated.body.data.deployments).toEqual([expect.objectContaining({ environment: 'staging' })]);
  });

  it('when the only production assignment is history (inactive), then deprecating and taking offline need no confirmation', async () => {
    const m = await makeModel(provider.id);
    const feature = await makeFeature(t.db);
    await assign(feature.id, m.id, 'production', false);
    const res = await api('patch', `/models/${m.id}`, { status: 'offline' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data.status).toBe('offline');
  });

  it('when a viewer session or a read token patches, then 403; no credentials 401; nothing is written', async () => {
    const m = await makeModel(provider.id);
    const before = await snapshot();
    await viewerAgent.patch(`${BASE}/models/${m.id}`).set('x-csrf-token', viewerCsrf).send({ status: 'offline' }).expect(403);
    await api('patch', `/models/${m.id}`, { status: 'offline' }, readToken).expect(403);
    await api('patch', `/models/${m.id}`, { status: 'offline' }, null).expect(401);
    expect(await snapshot()).toEqual(before);
  });
});

describe('GET /providers?include_metrics=true health_score (SPEC §4)', () => {
  it('when a provider has seeded traffic, then health = 0.5 × success + 0.3 × uptime + 0.2 × latency score by brute force from the raw rows; a failed probe within 15 minutes caps it at 50, one 20 minutes old does not', async () => {
    const provider = await makeProvider({ status: 'active' }, newKey());
    const other = await makeProvider({ status: 'active' }, newKey());
    const [model, otherModel] = [await makeModel(provider.id), await makeModel(other.id)];
    const ref = (m: Row, p: Row): ModelRef => ({
      id: m.id,
      name: m.name,
      display_name: m.display_name,
      provider_id: p.id,
      provider_name: p.name,
      in_micro: 1000,
      out_micro: 2000,
    });
    const feature = await makeFeature(t.db);
    const now = Date.now();
    const minuteStart = (minutesAgo: number) => Math.floor((now - minutesAgo * MINUTE) / MINUTE) * MINUTE;
    const rng = mulberry32(20261206);
    const events: UsageEvent[] = [];
    const ev = (at: number, status: 'success' | 'error' | 'timeout', ms: number, m = ref(model, provider)): UsageEvent => ({
      feature_id: feature.id,
      model: m,
      status,
      response_time_ms: ms,
      created_at: new Date(at),
    });
    // Edge minutes: exactly 5 % errors is a bad minute; 1 error in 21 requests (4.76 %) is a good one.
    const edges = new Set([300, 600, 900]);
    for (let i = 0; i < 20; i++) events.push(ev(minuteStart(300) + 1000 + i * 100, i === 0 ? 'error' : 'success', 900));
    for (let i = 0; i < 21; i++) events.push(ev(minuteStart(600) + 1000 + i * 100, i === 0 ? 'timeout' : 'success', 1100));
    for (let i = 0; i < 3; i++) events.push(ev(minuteStart(900) + 1000 + i * 100, 'error', 4800));
    // Spread traffic: 400 events over the last 23 hours, 7 % failures, latencies 50–6000 ms.
    for (let i = 0; i < 400; i++) {
      let minutesAgo: number;
      do minutesAgo = 3 + Math.floor(rng() * 1380);
      while (edges.has(minutesAgo) || edges.has(minutesAgo - 1) || edges.has(minutesAgo + 1));
      const r = rng();
      events.push(
        ev(
          minuteStart(minutesAgo) + Math.floor(rng() * 50_000),
          r < 0.05 ? 'error' : r < 0.07 ? 'timeout' : 'success',
          50 + Math.floor(rng() * 5950),
        ),
      );
    }
    // Outside the 24 h window, and another provider's traffic: neither may count.
    for (let i = 0; i < 10; i++) events.push(ev(now - DAY - 30 * MINUTE - i * MINUTE, 'error', 9000));
    for (let i = 0; i < 30; i++) events.push(ev(now - (10 + i) * MINUTE, 'error', 9000, ref(otherModel, other)));
    await insertUsage(t.db, events);

    // Brute force over the raw rows, from SPEC §4 alone.
    const { rows } = await t.db.raw('SELECT created_at, status, response_time_ms FROM ai_usage_logs WHERE provider_id = ?', [provider.id]);
    const inWindow = rows.filter((r: Row) => r.created_at.getTime() >= now - DAY + 5 * MINUTE && r.created_at.getTime() <= now);
    expect(inWindow.length).toBe(444);
    expect(rows.length).toBe(454);
    const successRate = (inWindow.filter((r: Row) => r.status === 'success').length / inWindow.length) * 100;
    const meanMs = inWindow.reduce((a: number, r: Row) => a + r.response_time_ms, 0) / inWindow.length;
    const perMinute = new Map<number, { n: number; failed: number }>();
    for (const r of inWindow) {
      const m = Math.floor(r.created_at.getTime() / MINUTE);
      const slot = perMinute.get(m) ?? { n: 0, failed: 0 };
      slot.n += 1;
      if (r.status !== 'success') slot.failed += 1;
      perMinute.set(m, slot);
    }
    const bad = [...perMinute.values()].filter((s) => s.failed * 100 >= 5 * s.n).length;
    expect(perMinute.get(minuteStart(300) / MINUTE)).toEqual({ n: 20, failed: 1 });
    expect(perMinute.get(minuteStart(600) / MINUTE)).toEqual({ n: 21, failed: 1 });
    // The range's minute slots: [now − 24 h, now] touches 1441 of them (both ends partial).
    const slots = 1441;
    const uptime = ((slots - bad) / slots) * 100;
    const latencyScore = Math.min(100, Math.max(0, ((5000 - meanMs) / 4500) * 100));
    const expected = 0.5 * successRate + 0.3 * uptime + 0.2 * latencyScore;
    expect(expected).toBeGreaterThan(55); // so that the cap below is visible
    expect(latencyScore).toBeGreaterThan(0);
    expect(latencyScore).toBeLessThan(100);

    const health = async () => {
      const res = await api('get', '/providers?include_metrics=true', undefined, readToken).expect(200);
      return res.body.data.find((p: Row) => p.id === provider.id);
    };
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await runRollup({ db: t.db });
      const p = await health();
      expect(p.total_requests, stage).toBe(444);
      expect(p.success_rate, stage).toBeCloseTo(successRate, 9);
      expect(p.response_time, stage).toBeCloseTo(meanMs, 9);
      expect(p.uptime, stage).toBeCloseTo(uptime, 9);
      expect(p.health_score, stage).toBeCloseTo(expected, 9);
    }

    const check = (msAgo: number, status: 'ok' | 'error', kind = 'probe') =>
      t.db('health_checks').insert({
        provider_id: provider.id,
        kind,
        status,
        latency_ms: 5,
        error: status === 'error' ? 'the provider answered 503' : null,
        checked_at: new Date(Date.now() - msAgo),
      });
    await check(20 * MINUTE, 'error');
    await check(MINUTE, 'ok');
    expect((await health()).health_score).toBeCloseTo(expected, 9);
    await check(14 * MINUTE, 'error');
    expect((await health()).health_score).toBe(50);
    // The other provider: all errors (score below 50), a recent failed probe cannot raise it.
    await t.db('health_checks').insert({ provider_id: other.id, kind: 'probe', status: 'error', latency_ms: 5, error: 'down' });
    const o = (await api('get', '/providers?include_metrics=true').expect(200)).body.data.find((p: Row) => p.id === other.id);
    expect(o.success_rate).toBe(0);
    expect(o.health_score).toBeCloseTo(0.3 * ((slots - 30) / slots) * 100, 9);
  });

  it('when a provider has no traffic in the last 24 h, then its health score is null (no data), not 0 or 100', async () => {
    const p = await makeProvider();
    const res = await api('get', '/providers?include_metrics=true').expect(200);
    expect(res.body.data.find((x: Row) => x.id === p.id)).toMatchObject({
      health_score: null,
      success_rate: null,
      uptime: null,
      total_requests: 0,
    });
  });
});
