import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext, testConfig } from '../setup/app.ts';
import { hx } from '../setup/html.ts';
import { ageSession, sessionExpiry, sessionIdOfUser, signInAs } from '../setup/session.ts';

// How long a session lasts (30 minutes idle, 12 hours in all) and what a request without a valid
// one gets. The session's clocks are moved back in the store instead of waited out (see ageSession).

const FEATURES = '/platform/ai-management/features';

let t: TestContext;
beforeAll(() => {
  t = startTestApp();
});
afterAll(() => t.close());

describe('session lifetime', () => {
  // The session's clocks are moved back in the store instead of waited out (see ageSession).
  const OVERVIEW = '/platform/ai-management';
  const { sessionIdleMs: IDLE_MS, sessionAbsoluteMs: ABSOLUTE_MS } = testConfig();

  it('when a session is older than its absolute lifetime, then it is ended even while active', async () => {
    const { user, agent } = await signInAs(t, 'viewer');
    const sid = await sessionIdOfUser(t.db, user.id);
    // A minute short of the absolute lifetime, and active all along: still signed in.
    await ageSession(t.db, sid, { signedInMsAgo: ABSOLUTE_MS - 60_000 });
    for (let i = 0; i < 2; i++) await agent.get(OVERVIEW).expect(200);
    // A minute past it, though just active and far from idle: ended, and gone from the store.
    await ageSession(t.db, sid, { signedInMsAgo: ABSOLUTE_MS + 60_000 });
    await agent
      .get(OVERVIEW)
      .expect(303)
      .expect('location', /^\/login/);
    expect(await t.db('sessions').where({ sid }).first()).toBeUndefined();
  });

  it('when the session is idle longer than the idle timeout, then it is refused; activity keeps it alive', async () => {
    const { user, agent } = await signInAs(t, 'viewer');
    const sid = await sessionIdOfUser(t.db, user.id);
    // Three gaps of all but 5 seconds of the idle timeout (longer than it in all): each request renews the whole timeout.
    for (let i = 0; i < 3; i++) {
      await ageSession(t.db, sid, { idleMs: IDLE_MS - 5_000 });
      const nearlyGone = await sessionExpiry(t.db, sid);
      await agent.get(OVERVIEW).expect(200);
      expect((await sessionExpiry(t.db, sid)).getTime() - nearlyGone.getTime()).toBeGreaterThan(IDLE_MS - 10_000);
    }
    // A second longer than the idle timeout: refused.
    await ageSession(t.db, sid, { idleMs: IDLE_MS + 1_000 });
    await agent
      .get(OVERVIEW)
      .expect(303)
      .expect('location', /^\/login/);
  });

  it('when a session cookie is set, then it expires after the idle timeout (30 minutes by default)', async () => {
    const { agent } = await signInAs(t, 'admin');
    const res = await agent.get('/platform/ai-management').expect(200);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('sb.sid='))!;
    const expires = new Date(/Expires=([^;]+)/.exec(cookie)![1]).getTime();
    expect(expires - Date.now()).toBeGreaterThan(29 * 60 * 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(30 * 60 * 1000);
  });
});

describe('htmx without a valid session', () => {
  it('when there is no session, then 401 with HX-Redirect to /login and the page to come back to', async () => {
    const path = `${FEATURES}?feature=chatbot&range=7d`;
    const res = await request(t.app).get(path).set(hx('div#feature-overview')).expect(401);
    expect(res.headers['hx-redirect']).toBe(`/login?next=${encodeURIComponent(path)}`);
    expect(res.text).toBe('');
    await request(t.app)
      .get(path)
      .expect(303)
      .expect('location', `/login?next=${encodeURIComponent(path)}`);
  });

  it('when the session is past its absolute lifetime, then 401 with HX-Redirect and the old session is gone from the store', async () => {
    const { user, agent } = await signInAs(t, 'admin');
    const sid = await sessionIdOfUser(t.db, user.id);
    expect(await t.db('sessions').where({ sid }).first()).toBeDefined();
    // Signed in a minute longer ago than the absolute lifetime (moved back in the store, not waited out).
    await ageSession(t.db, sid, { signedInMsAgo: testConfig().sessionAbsoluteMs + 60_000 });
    const res = await agent.get(FEATURES).set(hx('section#feature-cards')).expect(401);
    expect(res.headers['hx-redirect']).toBe(`/login?next=${encodeURIComponent(FEATURES)}`);
    expect(await t.db('sessions').where({ sid }).first()).toBeUndefined();
  });
});
