import * as cheerio from 'cheerio';
import request from 'supertest';
import type { App } from '../../src/app.ts';

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
export async function csrfFor(agent: Agent, path = '/platform/ai-management/api-keys'): Promise<string> {
  const page = await agent.get(path).expect(200);
  return cheerio.load(page.text)('meta[name="csrf-token"]').attr('content') as string;
}
