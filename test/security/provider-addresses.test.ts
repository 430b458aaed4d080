import crypto from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptSecret } from '../../src/providers/secrets.ts';
import { startTestApp, type TestContext, testConfig } from '../setup/app.ts';
import { makeToken, suffix } from '../setup/factories.ts';
import { type FakeProvider, fakeProvider } from '../setup/fake-provider.ts';

// Provider base URLs on loopback and private networks: refused unless the operator lists them in
// PROVIDER_ALLOWED_PRIVATE, both when a URL is entered (as written) and at every call (as resolved).

const BASE = '/api/platform/ai-management';
const KEY = 'sk-private-range-never-sent-0000';

/** Every spelling of a non-public address that a URL can carry (the URL parser normalises most of them). */
const PRIVATE_URLS = [
  'http://127.0.0.1:8080/v1',
  'http://127.1.2.3/v1',
  'http://2130706433/v1',
  'http://0x7f.0.0.1/v1',
  'http://0177.0.0.1/v1',
  'http://localhost:11434/v1',
  'http://LOCALHOST./v1',
  'http://api.localhost/v1',
  'http://[::1]/v1',
  'http://[::ffff:127.0.0.1]/v1',
  'http://[::ffff:7f00:1]/v1',
  'http://[0:0:0:0:0:ffff:10.0.0.1]/v1',
  'http://[64:ff9b::10.1.2.3]/v1',
  'http://0.0.0.0/v1',
  'http://0/v1',
  'http://[::]/v1',
  'http://10.0.0.5/v1',
  'http://172.16.0.1/v1',
  'http://172.31.255.254/v1',
  'http://192.168.1.10/v1',
  'http://100.64.0.1/v1',
  'http://100.127.255.254/v1',
  'http://[fd12:3456::1]/v1',
  'http://[fc00::1]/v1',
  'http://224.0.0.1/v1',
  'http://239.255.255.250/v1',
  'http://255.255.255.255/v1',
  'http://[ff02::1]/v1',
];

const PUBLIC_URLS = [
  'https://api.example.com/v1',
  'http://172.32.0.1/v1',
  'http://100.128.0.1/v1',
  'http://[2001:db8::1]/v1',
  'http://11.0.0.1/v1',
];

async function storedProvider(t: TestContext, baseUrl: string): Promise<string> {
  const id = crypto.randomUUID();
  await t.db('ai_providers').insert({
    id,
    name: `priv-${suffix()}`,
    display_name: 'Private',
    kind: 'openai-compatible',
    base_url: baseUrl,
    status: 'active',
    api_key_ciphertext: encryptSecret(testConfig().secretsKey, KEY, id),
    api_key_last4: KEY.slice(-4),
  });
  return id;
}

describe('with no private address allowed (the production default)', () => {
  let t: TestContext;
  let token: string;
  let server: FakeProvider;
  beforeAll(async () => {
    t = startTestApp({ providerAllowedPrivate: [] });
    token = (await makeToken(t.db, 'admin')).token;
    server = await fakeProvider((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":[]}'));
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });
  const api = (method: 'post' | 'patch', path: string, body: object) =>
    request(t.app)[method](`${BASE}${path}`).set('Authorization', `Bearer ${token}`).send(body);

  it.each(PRIVATE_URLS)('when a provider is added with base URL %s, then 422 on base_url naming the setting', async (base_url) => {
    const res = await api('post', '/providers', { name: `p-${suffix()}`, display_name: 'Local', base_url });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.details.base_url).toMatch(/private or loopback.*PROVIDER_ALLOWED_PRIVATE/);
  });

  it.each(PUBLIC_URLS)('when a provider is added with the public base URL %s, then it is accepted', async (base_url) => {
    const res = await api('post', '/providers', { name: `p-${suffix()}`, display_name: 'Public', base_url });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it('when a provider is moved to a private base URL, then 422 and it stays where it was', async () => {
    const created = await api('post', '/providers', {
      name: `p-${suffix()}`,
      display_name: 'Moving',
      base_url: 'https://api.example.com/v1',
    });
    const res = await api('patch', `/providers/${created.body.data.id}`, { base_url: 'http://192.168.0.10/v1', api_key: KEY });
    expect(res.status).toBe(422);
    expect(res.body.details.base_url).toMatch(/PROVIDER_ALLOWED_PRIVATE/);
    expect((await t.db('ai_providers').where({ id: created.body.data.id }).first())?.base_url).toBe('https://api.example.com/v1');
  });

  it('when a stored provider points at a loopback address, then its test call is refused and the key never leaves', async () => {
    const id = await storedProvider(t, server.url);
    const res = await api('post', `/providers/${id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/PROVIDER_ALLOWED_PRIVATE/) });
    expect(server.hits).toHaveLength(0);
  });

  it('when a stored provider names a host that resolves to loopback (localhost), then the call is refused at connection time', async () => {
    const id = await storedProvider(t, server.url.replace('127.0.0.1', 'localhost'));
    const res = await api('post', `/providers/${id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/^the provider could not be reached/) });
    expect(server.hits).toHaveLength(0);
  });

  it('when the built-in simulator is tested, then it answers: it is the app’s own, allowed by construction', async () => {
    const simulator = await t.db('ai_providers').where({ name: 'simulator' }).first('id');
    const res = await api('post', `/providers/${simulator?.id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: true });
  });
});

describe('with the operator allowing a private network', () => {
  let t: TestContext;
  let token: string;
  let server: FakeProvider;
  beforeAll(async () => {
    t = startTestApp({ providerAllowedPrivate: ['127.0.0.0/8', 'llm.internal'] });
    token = (await makeToken(t.db, 'admin')).token;
    server = await fakeProvider((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":[]}'));
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });
  const api = (path: string, body: object) => request(t.app).post(`${BASE}${path}`).set('Authorization', `Bearer ${token}`).send(body);

  it('when a provider on the allowed network is added and tested, then it is called with its key', async () => {
    const created = await api('/providers', { name: `p-${suffix()}`, display_name: 'Self-hosted', base_url: server.url, api_key: KEY });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const res = await api(`/providers/${created.body.data.id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: true });
    expect(server.hits).toEqual([{ method: 'GET', url: '/v1/models', auth: `Bearer ${KEY}` }]);
  });

  it('when a provider is on another private network or an allowed name, then only the name is accepted as written', async () => {
    const other = await api('/providers', { name: `p-${suffix()}`, display_name: 'Other', base_url: 'http://10.0.0.5/v1' });
    expect(other.status).toBe(422);
    const named = await api('/providers', { name: `p-${suffix()}`, display_name: 'Named', base_url: 'http://llm.internal:8000/v1' });
    expect(named.status, JSON.stringify(named.body)).toBe(201);
  });

  it('when the allowance covers a link-local or metadata address, then that is still never called', async () => {
    const lax = startTestApp({ providerAllowedPrivate: ['169.254.0.0/16', 'metadata.google.internal'] });
    try {
      const admin = (await makeToken(lax.db, 'admin')).token;
      for (const base_url of ['http://169.254.169.254/latest', 'http://metadata.google.internal/v1']) {
        const res = await request(lax.app)
          .post(`${BASE}/providers`)
          .set('Authorization', `Bearer ${admin}`)
          .send({ name: `p-${suffix()}`, display_name: 'Metadata', base_url });
        expect(res.status, base_url).toBe(422);
        expect(res.body.details.base_url).toMatch(/link-local or cloud metadata/);
      }
    } finally {
      await lax.close();
    }
  });
});
