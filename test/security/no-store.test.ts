import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken, makeUser } from '../setup/factories.ts';
import { type Agent, signIn } from '../setup/session.ts';

let t: TestContext;
let agent: Agent;
beforeAll(async () => {
  t = startTestApp();
  const user = await makeUser(t.db, 'viewer');
  agent = await signIn(t.app, user.email, user.password);
});
afterAll(() => t.close());

const BASE = '/platform/ai-management';
const CONFIG = '/api/v1/features/chatbot/config?environment=production';

describe('Cache-Control on signed-in answers', () => {
  it.each([
    ['a page', `${BASE}`],
    ['a page with a query', `${BASE}/models?tab=models`],
    ['a CSV export', `${BASE}/models?tab=providers&format=csv`],
    ['the console API', `/api${BASE}/features`],
    ['a page that does not exist', `${BASE}/nothing-here`],
  ])('when %s is answered to a session, then it says no-store and carries no ETag', async (_label, path) => {
    const res = await agent.get(path);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.etag).toBeUndefined();
  });

  it('when htmx asks for a fragment, then it says no-store', async () => {
    const res = await agent.get(`${BASE}/models?tab=models`).set('HX-Request', 'true').set('HX-Target', 'main#tab-panel').expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.etag).toBeUndefined();
  });

  it('when a bearer token reads the console API, then it says no-store', async () => {
    const { token } = await makeToken(t.db, 'read');
    const res = await request(t.app).get(`/api${BASE}/features`).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.etag).toBeUndefined();
  });

  it('when the sign-in page and its redirects are answered, then they say no-store', async () => {
    expect((await request(t.app).get('/login').expect(200)).headers['cache-control']).toBe('no-store');
    expect((await request(t.app).get(BASE).expect(303)).headers['cache-control']).toBe('no-store');
  });
});

describe('answers that keep caching', () => {
  it('when a static asset is served, then it keeps max-age, ETag and Last-Modified', async () => {
    const res = await request(t.app).get('/static/css/app.css').expect(200);
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    expect(res.headers.etag).toBeTruthy();
    expect(res.headers['last-modified']).toBeTruthy();
    await request(t.app).get('/static/css/app.css').set('If-None-Match', res.headers.etag).expect(304);
  });

  it('when a product server reads its runtime config with a token, then no-cache with an ETag and a 304 when unchanged', async () => {
    const { token } = await makeToken(t.db, 'read');
    const res = await request(t.app).get(CONFIG).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['set-cookie']).toBeUndefined();
    await request(t.app).get(CONFIG).set('Authorization', `Bearer ${token}`).set('If-None-Match', res.headers.etag).expect(304);
  });

  it('when the runtime config is read with a session (its answer carries the session cookie), then no-store', async () => {
    const res = await agent.get(CONFIG).expect(200);
    expect(res.headers['set-cookie']).toBeDefined();
    expect(res.headers['cache-control']).toBe('no-store');
  });
});
