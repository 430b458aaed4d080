import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeNext } from '../../src/middleware/auth.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser } from '../setup/factories.ts';
import { postSignIn } from '../setup/session.ts';

let t: TestContext;
beforeAll(() => {
  t = startTestApp();
});
afterAll(() => t.close());

/** Every spelling that a browser (or a proxy that decodes) could turn into a path starting with two slashes. */
const OFFSITE = [
  '//evil.example/x',
  '/.//evil.example/x',
  '/..//evil.example/x',
  '/%2e%2e//evil.example/x',
  '/%2E//evil.example/x',
  '/%2e/%2e%2e//evil.example/x',
  '/a/..//evil.example/x',
  '/a/%2e%2e//evil.example/x',
  '/a/b/../..//evil.example/x',
  '/\\evil.example/x',
  '/.\\/evil.example/x',
  '/./\\evil.example/x',
  '\\\\evil.example/x',
  '/%5cevil.example/x',
  '/%5C%5Cevil.example/x',
  '/%2fevil.example/x',
  '/%2F%2Fevil.example/x',
  '/.%2f/evil.example/x',
  '/%2e%2e%2f%2fevil.example/x',
  '/%252e%252e//evil.example/x',
  '/%252f%252fevil.example/x',
  '/%09/evil.example/x',
  '/\t/evil.example/x',
  'https://evil.example/x',
  'javascript:alert(1)',
  '',
];

describe('safeNext', () => {
  it.each(OFFSITE)('when next is %j, then it is refused (/)', (next) => {
    expect(safeNext(next)).toBe('/');
  });

  it('when next is a page of the console, then it is kept as it is, query included', () => {
    expect(safeNext('/platform/ai-management/audit?x=1')).toBe('/platform/ai-management/audit?x=1');
    expect(safeNext('/platform/ai-management/models?q=a%2Fb&tab=models')).toBe('/platform/ai-management/models?q=a%2Fb&tab=models');
  });
});

describe('GET a page without a session', () => {
  it.each(['/.//evil.example/phish', '/..//evil.example/phish', '/%2e%2e//evil.example/phish', '/a/..//evil.example/phish'])(
    'when the path is %s, then /login is told to come back to / only',
    async (path) => {
      const res = await request(t.app).get(path).expect(303);
      expect(res.headers.location).toBe('/login?next=%2F');
    },
  );
});

describe('POST /login with next', () => {
  it.each(OFFSITE)('when next is %j, then the redirect after sign-in stays inside the console', async (next) => {
    const user = await makeUser(t.db);
    const agent = request.agent(t.app);
    const res = await postSignIn(agent, user, { next });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/platform/ai-management');
  });

  it('when GET /login is given a next that leaves, then the form carries / instead', async () => {
    const res = await request(t.app).get('/login').query({ next: '/.//evil.example/x' }).expect(200);
    expect(res.text).toContain('name="next" value="/"');
  });
});
