import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { csrfOf, postSignIn } from '../setup/session.ts';

// The file has a database of its own, so the number of rows in `sessions` is its alone.
let t: TestContext;
let drop: () => Promise<void>;
let url: string;
beforeAll(async () => {
  const own = await ownSeededDatabase('sessions');
  drop = own.drop;
  url = own.url;
  t = startTestApp({ databaseUrl: own.url }, own.db);
});
afterAll(async () => {
  await t?.close();
  await drop?.();
});

const sessionRows = async () => Number((await t.db('sessions').count({ n: '*' }).first())!.n);
const setCookies = (res: request.Response) => (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
const cookieNamed = (res: request.Response, name: string) => setCookies(res).find((c) => c.startsWith(`${name}=`));

describe('anonymous visitors', () => {
  it('when the sign-in page is fetched 20 times, then no session row is written and no session cookie is set', async () => {
    const before = await sessionRows();
    for (let i = 0; i < 20; i++) {
      const res = await request(t.app).get('/login').expect(200);
      expect(setCookies(res).filter((c) => /sb\.sid=/.test(c))).toEqual([]);
      expect(csrfOf(res.text)).toMatch(/^[\w-]{43}$/);
    }
    expect(await sessionRows()).toBe(before);
  });

  it('when pages, the API and failed sign-ins are tried without a session, then no session row is written either', async () => {
    const before = await sessionRows();
    const visitor = request.agent(t.app);
    await visitor.get('/platform/ai-management').expect(303);
    await visitor.get('/api/platform/ai-management/features').expect(401);
    const page = await visitor.get('/login?next=%2Fplatform%2Fai-management%2Faudit').expect(200);
    for (let i = 0; i < 3; i++) {
      await visitor
        .post('/login')
        .type('form')
        .send({ email: 'nobody@example.test', password: 'wrong-password', _csrf: csrfOf(page.text) })
        .expect(401);
    }
    expect(await sessionRows()).toBe(before);
  });
});

describe('the sign-in form’s CSRF protection (a signed token bound to a cookie, no session)', () => {
  it('when the token is missing, wrong, or belongs to another visitor’s cookie, then 403 and nobody is signed in', async () => {
    const user = await makeUser(t.db);
    const victim = request.agent(t.app);
    await victim.get('/login').expect(200);
    const attacker = await request(t.app).get('/login').expect(200);
    const before = await sessionRows();
    const post = (fields: Record<string, string>) =>
      victim
        .post('/login')
        .type('form')
        .send({ email: user.email, password: user.password, ...fields });
    expect((await post({})).status).toBe(403);
    expect((await post({ _csrf: 'forged' })).status).toBe(403);
    expect((await post({ _csrf: csrfOf(attacker.text) })).status).toBe(403);
    // A token with no cookie at all (a cross-site form post from a fresh browser).
    const fresh = await request(t.app)
      .post('/login')
      .type('form')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(attacker.text) });
    expect(fresh.status).toBe(403);
    expect(await sessionRows()).toBe(before);
    await victim.get('/platform/ai-management').expect(303);
  });

  it('when the real form is posted, then it signs in, with exactly one new session row', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const page = await agent.get('/login').expect(200);
    const before = await sessionRows();
    await agent
      .post('/login')
      .type('form')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) })
      .expect(303);
    expect(await sessionRows()).toBe(before + 1);
    await agent.get('/platform/ai-management').expect(200);
  });

  it('when the sign-in page is shown again after a failure, then its token still works', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const page = await agent.get('/login').expect(200);
    const failed = await agent
      .post('/login')
      .type('form')
      .send({ email: user.email, password: 'not-the-password', _csrf: csrfOf(page.text) })
      .expect(401);
    await agent
      .post('/login')
      .type('form')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(failed.text) })
      .expect(303);
  });

  it('when a session exists from an earlier sign-in, then signing in again replaces its id and drops the old row', async () => {
    const [first, second] = [await makeUser(t.db), await makeUser(t.db)];
    const agent = request.agent(t.app);
    const page = await agent.get('/login');
    const sidOf = (res: request.Response) =>
      decodeURIComponent(cookieNamed(res, 'sb.sid')!.split(';')[0].split('=')[1]).slice(2).split('.')[0];
    const one = await agent
      .post('/login')
      .type('form')
      .send({ email: first.email, password: first.password, _csrf: csrfOf(page.text) })
      .expect(303);
    const two = await agent
      .post('/login')
      .type('form')
      .send({ email: second.email, password: second.password, _csrf: csrfOf(page.text) })
      .expect(303);
    expect(sidOf(two)).not.toBe(sidOf(one));
    expect(
      await t
        .db('sessions')
        .where({ sid: sidOf(one) })
        .first(),
    ).toBeUndefined();
  });
});

describe('the session cookie', () => {
  it('when served over plain HTTP, then it is sb.sid: HttpOnly, SameSite=Lax, Path=/, not Secure', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const res = await postSignIn(agent, user);
    expect(res.status).toBe(303);
    const cookie = cookieNamed(res, 'sb.sid')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure|Domain=/);
    const home = await agent.get('/platform/ai-management').expect(200);
    const csrf = cheerio.load(home.text)('form.signout input[name="_csrf"]').val() as string;
    const out = await agent.post('/logout').type('form').send({ _csrf: csrf }).expect(303);
    expect(cookieNamed(out, 'sb.sid')).toMatch(/Expires=Thu, 01 Jan 1970/);
  });

  describe('over HTTPS (behind a proxy, TRUST_PROXY)', () => {
    let proxied: TestContext;
    beforeAll(() => {
      proxied = startTestApp({ trustProxy: true, databaseUrl: url }, t.db);
    });
    afterAll(async () => {
      // The database handle is the file's: close only the app.
      await proxied.app.close();
    });
    const HTTPS = { 'X-Forwarded-Proto': 'https', Host: 'console.example' };

    it('when signing in and out, then the cookie is __Host-sb.sid (Secure, Path=/, no Domain) and logout clears that name', async () => {
      const user = await makeUser(t.db);
      const page = await request(proxied.app).get('/login').set(HTTPS).expect(200);
      const loginCookie = setCookies(page).find((c) => c.startsWith('__Host-'))!;
      expect(loginCookie).toMatch(/Secure/);
      expect(loginCookie).toMatch(/Path=\//);
      expect(loginCookie).not.toMatch(/Domain=/);
      const res = await request(proxied.app)
        .post('/login')
        .type('form')
        .set(HTTPS)
        .set('Cookie', loginCookie.split(';')[0])
        .send({ email: user.email, password: user.password, _csrf: csrfOf(page.text) })
        .expect(303);
      const cookie = cookieNamed(res, '__Host-sb.sid')!;
      expect(cookie).toBeDefined();
      expect(cookie).toMatch(/; Secure/);
      expect(cookie).toMatch(/Path=\//);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).not.toMatch(/Domain=/);
      expect(cookieNamed(res, 'sb.sid')).toBeUndefined();
      const session = cookie.split(';')[0];
      const home = await request(proxied.app).get('/platform/ai-management').set(HTTPS).set('Cookie', session).expect(200);
      const csrf = cheerio.load(home.text)('form.signout input[name="_csrf"]').val() as string;
      const out = await request(proxied.app)
        .post('/logout')
        .type('form')
        .set(HTTPS)
        .set('Cookie', session)
        .send({ _csrf: csrf })
        .expect(303);
      const cleared = cookieNamed(out, '__Host-sb.sid')!;
      expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
      expect(cleared).toMatch(/; Secure/);
      expect(cleared).toMatch(/Path=\//);
      await request(proxied.app).get('/platform/ai-management').set(HTTPS).set('Cookie', session).expect(303);
    });

    it('when a plain sb.sid cookie is sent over HTTPS, then it is not a session there', async () => {
      const user = await makeUser(t.db);
      const agent = request.agent(t.app);
      const res = await postSignIn(agent, user);
      expect(res.status).toBe(303);
      const plain = cookieNamed(res, 'sb.sid')!.split(';')[0];
      await request(proxied.app).get('/platform/ai-management').set(HTTPS).set('Cookie', plain).expect(303);
    });
  });
});
