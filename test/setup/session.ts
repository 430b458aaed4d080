import * as cheerio from 'cheerio';
import request from 'supertest';
import { expect } from 'vitest';
import type { App } from '../../src/app.ts';
import type { Role } from '../../src/auth/principal.ts';
import type { Db } from '../../src/db/knex.ts';
import { makeUser, type TestUser } from './factories.ts';

export type Agent = ReturnType<typeof request.agent>;

/** The CSRF token a page hands to its forms. */
export const csrfOf = (html: string) => cheerio.load(html)('input[name="_csrf"]').first().val() as string;

/** The session id inside the signed session cookie of a response, if it sets one. */
export function sessionIdOf(setCookie: string[] | string | undefined): string | undefined {
  const cookies = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const raw = cookies.find((c) => c.startsWith('sb.sid='));
  if (!raw) return undefined;
  const value = decodeURIComponent(raw.slice('sb.sid='.length).split(';')[0]);
  return value.startsWith('s:') ? value.slice(2).split('.')[0] : undefined;
}

/** Signs in through the real form, as a browser would: GET /login for the token, then POST. */
export async function signIn(app: App, email: string, password: string): Promise<Agent> {
  const agent = request.agent(app);
  const page = await agent.get('/login').expect(200);
  await agent
    .post('/login')
    .type('form')
    .send({ email, password, _csrf: csrfOf(page.text) })
    .expect(303);
  return agent;
}

/** A fresh CSRF token of a signed-in agent, read from a page's form. */
/** Signs in through the real form (its token read from the page) and answers the POST: the 303 or the refusal. */
export async function postSignIn(agent: Agent, user: { email: string; password: string }, fields: Record<string, string> = {}) {
  const page = await agent.get('/login');
  return agent
    .post('/login')
    .type('form')
    .send({ email: user.email, password: user.password, ...fields, _csrf: csrfOf(page.text) });
}

export async function csrfFor(agent: Agent, path = '/platform/ai-management/api-keys'): Promise<string> {
  const page = await agent.get(path).expect(200);
  return cheerio.load(page.text)('meta[name="csrf-token"]').attr('content') as string;
}

/** A user of the role signed in through the real form, with the CSRF token its pages hand out. */
export async function signInAs(t: { app: App; db: Db }, role: Role = 'admin'): Promise<{ user: TestUser; agent: Agent; csrf: string }> {
  const user = await makeUser(t.db, role);
  const agent = await signIn(t.app, user.email, user.password);
  return { user, agent, csrf: await csrfFor(agent) };
}

/** The id of the one session a user holds in the store. */
export async function sessionIdOfUser(db: Db, userId: string): Promise<string> {
  const rows: { sid: string }[] = await db('sessions').whereRaw(`sess::jsonb -> 'passport' ->> 'user' = ?`, [userId]).select('sid');
  expect(rows).toHaveLength(1);
  return rows[0].sid;
}

/** When the store lets a session go for want of activity (its idle expiry). */
export async function sessionExpiry(db: Db, sid: string): Promise<Date> {
  const row: { expire: Date } = await db('sessions').where({ sid }).first('expire');
  return row.expire;
}

/**
 * Moves a session's clocks back instead of waiting: as if it had sat idle for `idleMs` since its last
 * request (the store's expiry moves back by that much), and had been signed in `signedInMsAgo` ago
 * (the absolute lifetime counts from then). Relative to what is stored, so the store's time zone does not matter.
 */
export async function ageSession(db: Db, sid: string, o: { idleMs?: number; signedInMsAgo?: number }): Promise<void> {
  if (o.idleMs !== undefined) {
    await db('sessions')
      .where({ sid })
      .update({ expire: db.raw(`expire - make_interval(secs => ?)`, [o.idleMs / 1000]) });
  }
  if (o.signedInMsAgo !== undefined) {
    await db('sessions')
      .where({ sid })
      .update({ sess: db.raw(`jsonb_set(sess::jsonb, '{authenticatedAt}', to_jsonb(?::bigint))::json`, [Date.now() - o.signedInMsAgo]) });
  }
}
