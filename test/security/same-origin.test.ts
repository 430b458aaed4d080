import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken, makeUser, suffix } from '../setup/factories.ts';
import { type Agent, csrfFor, csrfOf, signIn } from '../setup/session.ts';

let t: TestContext;
let agent: Agent;
let csrf: string;
beforeAll(async () => {
  t = startTestApp();
  const admin = await makeUser(t.db, 'admin');
  agent = await signIn(t.app, admin.email, admin.password);
  csrf = await csrfFor(agent);
});
afterAll(() => t.close());

const KEYS = '/platform/ai-management/api-keys';
const FEATURES_API = '/api/platform/ai-management/features';
/** The host supertest's requests carry is 127.0.0.1:port; these tests name one of their own. */
const HOST = 'switchboard.test';

/** Creates an API key through the form with a valid CSRF token and the headers given. */
async function createKey(headers: Record<string, string>) {
  const name = `origin ${suffix()}`;
  let req = agent.post(KEYS).type('form').set('Host', HOST);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await req.send({ name, scope: 'read', _csrf: csrf });
  const written = await t.db('api_keys').where({ name }).first();
  return { status: res.status, written: written !== undefined, text: res.text };
}

describe('writes with a session and a valid CSRF token', () => {
  it.each([
    ['another origin', { Origin: 'https://evil.example' }],
    ['Origin: null (a sandboxed frame, a data: URL)', { Origin: 'null' }],
    ['the same host over another scheme', { Origin: `https://${HOST}` }],
    ['the same host on another port', { Origin: `http://${HOST}:8443` }],
    ['a sibling on the same site', { Origin: `http://evil.${HOST}` }],
    ['only a foreign Referer', { Referer: 'https://evil.example/page' }],
    ['a foreign Referer beside no Origin, same host as a path', { Referer: `https://evil.example/${HOST}/` }],
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
    ['Sec-Fetch-Site: cross-site with a same-origin Origin', { 'Sec-Fetch-Site': 'cross-site', Origin: `http://${HOST}` }],
    ['a malformed Origin', { Origin: 'not a url' }],
  ])('when the request comes from %s, then 403 and nothing is written', async (_label, headers) => {
    const res = await createKey(headers);
    expect(res.status).toBe(403);
    expect(res.written).toBe(false);
    expect(cheerio.load(res.text)('main').text()).toContain('another site');
  });

  it.each([
    ['its own origin', { Origin: `http://${HOST}`, 'Sec-Fetch-Site': 'same-origin' }],
    ['its own origin with the default port spelt out', { Origin: `http://${HOST}:80` }],
    ['only a Referer of its own', { Referer: `http://${HOST}/platform/ai-management/api-keys` }],
    ['neither Origin nor Referer (curl with a session, an old client)', {}],
  ])('when the request comes from %s, then it is accepted', async (_label, headers) => {
    const res = await createKey(headers);
    expect(res.status).toBe(201);
    expect(res.written).toBe(true);
  });

  it('when the console API is called cross-origin with the session, then 403 in the JSON error shape', async () => {
    const res = await agent
      .post(FEATURES_API)
      .set('Origin', 'https://evil.example')
      .set('X-CSRF-Token', csrf)
      .send({ name: `x-${suffix()}`, display_name: 'X', required_model_type: 'llm' });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ success: false, error: expect.stringContaining('another site') });
  });

  it('when a bearer token writes with a foreign Origin, then it is not refused for that (no cookie, no ambient authority)', async () => {
    const { token } = await makeToken(t.db, 'admin');
    const name = `tok-${suffix()}`;
    const res = await request(t.app)
      .post(FEATURES_API)
      .set('Authorization', `Bearer ${token}`)
      .set('Origin', 'https://evil.example')
      .send({ name, display_name: 'Token feature', required_model_type: 'llm' });
    expect(res.status).toBe(201);
  });
});

describe('POST /login', () => {
  it('when the sign-in form is posted from another origin, then 403 and nobody is signed in', async () => {
    const user = await makeUser(t.db);
    const visitor = request.agent(t.app);
    const page = await visitor.get('/login');
    const res = await visitor
      .post('/login')
      .type('form')
      .set('Origin', 'https://evil.example')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) });
    expect(res.status).toBe(403);
    await visitor.get('/platform/ai-management').expect(303);
  });
});

describe('pages', () => {
  it('when a page is served, then its Referrer-Policy lets the browser send its Origin to this site and nothing to others', async () => {
    // no-referrer would make browsers send `Origin: null` on this site's own form posts (Fetch standard).
    const res = await request(t.app).get('/login').expect(200);
    expect(res.headers['referrer-policy']).toBe('same-origin');
  });
});

describe('behind a proxy (TRUST_PROXY)', () => {
  let proxied: TestContext;
  let token: string;
  // The cookies are Secure behind an https proxy: supertest's jar would not send them over http.
  const cookies = new Map<string, string>();
  const keep = (res: request.Response) => {
    for (const c of (res.headers['set-cookie'] as unknown as string[] | undefined) ?? []) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair);
    }
    return res;
  };
  const jar = () => [...cookies.values()].join('; ');
  const HTTPS = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'console.example' };
  beforeAll(async () => {
    proxied = startTestApp({ trustProxy: true });
    const user = await makeUser(proxied.db, 'admin');
    const page = keep(await request(proxied.app).get('/login').set(HTTPS));
    keep(
      await request(proxied.app)
        .post('/login')
        .type('form')
        .set(HTTPS)
        .set('Cookie', jar())
        .set('Origin', 'https://console.example')
        .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) })
        .expect(303),
    );
    const keys = keep(await request(proxied.app).get(KEYS).set(HTTPS).set('Cookie', jar()).expect(200));
    token = cheerio.load(keys.text)('meta[name="csrf-token"]').attr('content') as string;
  });
  afterAll(() => proxied.close());

  const post = (origin: string, forwarded: Record<string, string>) =>
    request(proxied.app)
      .post(KEYS)
      .type('form')
      .set('Cookie', jar())
      .set('Origin', origin)
      .set(forwarded)
      .send({ name: `proxied ${suffix()}`, scope: 'read', _csrf: token });

  it('when the Origin is the public origin the proxy forwards (X-Forwarded-Proto + X-Forwarded-Host), then it is accepted', async () => {
    await post('https://console.example', { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'console.example' }).expect(201);
  });

  it('when the proxy passes the Host through and says https, then that origin is accepted', async () => {
    await post('https://console.example', { 'X-Forwarded-Proto': 'https', Host: 'console.example' }).expect(201);
  });

  it('when the Origin is the internal http origin while the proxy says https, then 403', async () => {
    await post('http://console.example', { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'console.example' }).expect(403);
  });

  it('when the app does not trust a proxy, then X-Forwarded-Host does not make a foreign Origin its own', async () => {
    const user = await makeUser(t.db, 'admin');
    const direct = await signIn(t.app, user.email, user.password);
    const token = await csrfFor(direct);
    await direct
      .post(KEYS)
      .type('form')
      .set('Origin', 'https://console.example')
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-Host', 'console.example')
      .send({ name: `direct ${suffix()}`, scope: 'read', _csrf: token })
      .expect(403);
  });
});
