import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken, makeUser } from '../setup/factories.ts';
import { csrfOf, signInAs } from '../setup/session.ts';

let t: TestContext;
beforeAll(() => {
  t = startTestApp();
});
afterAll(() => t.close());

describe('security headers', () => {
  it('when any page is served, then the CSP allows no inline script and no other origin, and X-Powered-By is off', async () => {
    const res = await request(t.app).get('/login').expect(200);
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin'); // no-referrer makes browsers send Origin: null on our own posts
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when the session cookie is set, then it is HttpOnly and SameSite=Lax, and not Secure over plain HTTP', async () => {
    // Anonymous visitors get no session (test/security/session-cookie.test.ts): it is set at sign-in.
    const user = await makeUser(t.db);
    const page = await request(t.app).get('/login').expect(200);
    const res = await request(t.app)
      .post('/login')
      .type('form')
      .set('Cookie', (page.headers['set-cookie'] as unknown as string[])[0].split(';')[0])
      .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) })
      .expect(303);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('sb.sid='))!;
    expect(cookie).toMatch(/^sb\.sid=/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).not.toContain('Secure');
  });

  it('when behind an HTTPS proxy, then the session cookie is Secure', async () => {
    const proxied = startTestApp({ trustProxy: true });
    try {
      const res = await request(proxied.app).get('/login').set('X-Forwarded-Proto', 'https').expect(200);
      expect((res.headers['set-cookie'] as unknown as string[])[0]).toContain('Secure');
    } finally {
      await proxied.close();
    }
  });

  it('when a client accepts gzip, then pages are compressed', async () => {
    const res = await request(t.app).get('/static/css/app.css').set('Accept-Encoding', 'gzip').expect(200);
    expect(res.headers['content-encoding']).toBe('gzip');
  });

  it('when a static asset is served, then it carries cache validators', async () => {
    const res = await request(t.app).get('/static/vendor/htmx.min.js').expect(200);
    expect(res.headers.etag).toBeTruthy();
    expect(res.headers['cache-control']).toContain('max-age=3600');
    await request(t.app).get('/static/vendor/htmx.min.js').set('If-None-Match', res.headers.etag).expect(304);
  });
});

describe('logs', () => {
  it('when people sign in and tokens are used, then no password, token or cookie reaches the log', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const page = await agent.get('/login');
    const login = await agent
      .post('/login')
      .type('form')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) })
      .expect(303);
    await agent.get('/platform/ai-management').expect(200);
    const { token } = await makeToken(t.db, 'read');
    await request(t.app).get('/api/platform/ai-management/features?token=x').set('Authorization', `Bearer ${token}`).expect(200);
    const cookie = (login.headers['set-cookie'] as unknown as string[])[0].split(';')[0].split('=')[1];
    const logs = t.logs();
    expect(logs).toContain('/platform/ai-management');
    expect(logs).not.toContain(user.password);
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(cookie);
    expect(logs).not.toContain(decodeURIComponent(cookie));
  });
});

describe('GET /healthz', () => {
  it('when the database answers, then 200 {status: ok, db: ok}', async () => {
    const res = await request(t.app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok', db: 'ok' });
  });

  it('when the database is unreachable, then 503', async () => {
    const { createDb } = await import('../../src/db/knex.ts');
    const down = startTestApp({}, createDb('postgres://nobody:none@127.0.0.1:1/none', 1));
    try {
      const res = await request(down.app).get('/healthz').expect(503);
      expect(res.body).toEqual({ status: 'error', db: 'unreachable' });
    } finally {
      await down.close();
    }
  });
});

describe('errors', () => {
  it('when a signed-in page does not exist, then a 404 page in the shell', async () => {
    const { agent } = await signInAs(t, 'admin');
    const res = await agent.get('/platform/ai-management/nothing-here').expect(404);
    expect(res.text).toContain('Not found');
    expect(res.text).toContain('<nav');
  });

  it('when the server fails (its database is away: 503), then an error page with a correlation id that is also in the log, and no stack', async () => {
    const { agent } = await signInAs(t, 'admin');
    const { createDb } = await import('../../src/db/knex.ts');
    const broken = startTestApp({}, createDb('postgres://nobody:none@127.0.0.1:1/none', 1));
    try {
      // Same session store and secret, but the app's own database is gone: loading the user fails.
      const cookie = agent.jar.getCookie('sb.sid', { domain: '127.0.0.1', path: '/', script: false, secure: false });
      const res = await request(broken.app).get('/platform/ai-management').set('Cookie', `sb.sid=${cookie?.value}`);
      expect(res.status).toBe(503);
      const id = res.headers['x-request-id'];
      expect(res.text).toContain(id);
      expect(res.text).not.toMatch(/at .*\.ts:\d+|ECONNREFUSED/);
      expect(broken.logs()).toContain(id);
    } finally {
      await broken.close();
    }
  });

  it('when the API fails (its database is away: 503), then the JSON error shape with a correlation id', async () => {
    const { createDb } = await import('../../src/db/knex.ts');
    const broken = startTestApp({}, createDb('postgres://nobody:none@127.0.0.1:1/none', 1));
    try {
      const res = await request(broken.app).get('/api/platform/ai-management/features').set('Authorization', 'Bearer sb_whatever');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        success: false,
        error: 'The database is unavailable; try again in a few seconds',
        correlation_id: res.headers['x-request-id'],
      });
    } finally {
      await broken.close();
    }
  });
});
