import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser } from '../setup/factories.ts';
import { csrfOf, postSignIn, sessionIdOf, signInAs } from '../setup/session.ts';

let t: TestContext;
beforeAll(() => {
  t = startTestApp();
});
afterAll(() => t.close());

const errorOf = (html: string) => cheerio.load(html)('[role="alert"]').text().trim();

describe('POST /login', () => {
  it('when the credentials are right, then it redirects with 303 to the overview and the session is signed in', async () => {
    const user = await makeUser(t.db, 'viewer');
    const agent = request.agent(t.app);
    const page = await agent.get('/login').expect(200);
    const res = await agent
      .post('/login')
      .type('form')
      .send({ email: user.email.toUpperCase(), password: user.password, _csrf: csrfOf(page.text) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/platform/ai-management');
    const overview = await agent.get('/platform/ai-management').expect(200);
    expect(cheerio.load(overview.text)('.who').text()).toContain(user.email);
  });

  it('when the password is wrong or the user unknown, then both get the same 401 answer', async () => {
    const user = await makeUser(t.db);
    const attempt = async (email: string) => {
      const agent = request.agent(t.app);
      const page = await agent.get('/login');
      return agent
        .post('/login')
        .type('form')
        .send({ email, password: 'not-the-password', _csrf: csrfOf(page.text) });
    };
    const wrong = await attempt(user.email);
    const unknown = await attempt(`nobody-${user.email}`);
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(errorOf(wrong.text)).toBe('Invalid email or password.');
    expect(errorOf(unknown.text)).toBe(errorOf(wrong.text));
  });

  it('when the CSRF token is missing or wrong, then it refuses with 403 and signs nobody in', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    await agent.get('/login');
    const missing = await agent.post('/login').type('form').send({ email: user.email, password: user.password });
    const forged = await agent.post('/login').type('form').send({ email: user.email, password: user.password, _csrf: 'forged' });
    expect(missing.status).toBe(403);
    expect(forged.status).toBe(403);
    await agent
      .get('/platform/ai-management')
      .expect(303)
      .expect('location', /^\/login/);
  });

  it('when signing in, then a session id from before sign-in is replaced', async () => {
    // Anonymous visitors have no session; an earlier sign-in's session is the one there can be.
    const [first, second] = [await makeUser(t.db), await makeUser(t.db)];
    const agent = request.agent(t.app);
    const page = await agent.get('/login');
    const one = await agent
      .post('/login')
      .type('form')
      .send({ email: first.email, password: first.password, _csrf: csrfOf(page.text) });
    const before = sessionIdOf(one.headers['set-cookie']);
    const res = await agent
      .post('/login')
      .type('form')
      .send({ email: second.email, password: second.password, _csrf: csrfOf(page.text) });
    const after = sessionIdOf(res.headers['set-cookie']);
    expect(before).toBeTruthy();
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    expect(await t.db('sessions').where({ sid: before }).first()).toBeUndefined();
  });

  it('when an account fails too often, then it answers 429 even with the right password, known or unknown alike', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const page = await agent.get('/login');
    const csrf = csrfOf(page.text);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await agent.post('/login').type('form').send({ email: user.email, password: 'wrong-password', _csrf: csrf });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const right = await agent.post('/login').type('form').send({ email: user.email, password: user.password, _csrf: csrf });
    expect(right.status).toBe(429);
    const unknownStatuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await agent
        .post('/login')
        .type('form')
        .send({ email: `ghost-${user.email}`, password: 'x', _csrf: csrf });
      unknownStatuses.push(res.status);
    }
    expect(unknownStatuses).toEqual(statuses);
  });

  it('when the fields are empty, then it answers 422 with a message', async () => {
    const agent = request.agent(t.app);
    const page = await agent.get('/login');
    const res = await agent
      .post('/login')
      .type('form')
      .send({ email: '', password: '', _csrf: csrfOf(page.text) });
    expect(res.status).toBe(422);
    expect(errorOf(res.text)).toBe('Enter your email.');
  });

  it.each(['//evil.example/', '/\\evil.example/', '/\tevil', 'https://evil.example/', 'javascript:alert(1)'])(
    'when next is %j, then it still redirects inside the console',
    async (next) => {
      const user = await makeUser(t.db);
      const agent = request.agent(t.app);
      const res = await postSignIn(agent, user, { next });
      expect(res.headers.location).toBe('/platform/ai-management');
    },
  );

  it('when next is a page of the console, then it goes back there after sign-in', async () => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const res = await postSignIn(agent, user, { next: '/platform/ai-management/audit?x=1' });
    expect(res.headers.location).toBe('/platform/ai-management/audit?x=1');
  });

  it('when one address fails too often across many accounts, then it answers 429', async () => {
    const limited = startTestApp();
    try {
      const agent = request.agent(limited.app);
      const csrf = csrfOf((await agent.get('/login')).text);
      const statuses: number[] = [];
      for (let i = 0; i < 31; i++) {
        const res = await agent
          .post('/login')
          .type('form')
          .send({ email: `nobody-${i}@example.test`, password: 'x', _csrf: csrf });
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
      expect(statuses[30]).toBe(429);
    } finally {
      await limited.close();
    }
    // 31 sign-ins, each paying the password hash on purpose: on a loaded 2-core machine that outgrows 30 s.
  }, 120_000);
});

describe('POST /logout', () => {
  it('when signing out, then the session is destroyed and its cookie no longer works', async () => {
    const { user, agent } = await signInAs(t, 'admin');
    const page = await agent.get('/platform/ai-management').expect(200);
    const csrf = cheerio.load(page.text)('form.signout input[name="_csrf"]').val() as string;
    const sessions = await t.db('sessions').whereRaw(`sess::jsonb -> 'passport' ->> 'user' = ?`, [user.id]);
    expect(sessions).toHaveLength(1);
    await agent.post('/logout').type('form').send({ _csrf: csrf }).expect(303).expect('location', '/login');
    expect(await t.db('sessions').where({ sid: sessions[0].sid }).first()).toBeUndefined();
    await agent.get('/platform/ai-management').expect(303);
  });
});
