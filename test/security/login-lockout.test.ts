import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser, suffix } from '../setup/factories.ts';
import { csrfOf } from '../setup/session.ts';

// Sign-in limits: per (account, address) 5 / 15 min, per address 30 / 15 min, per account 50 / hour
// (except for a browser the owner signed in from before), counted in PostgreSQL across instances.
// The apps trust one proxy, so X-Forwarded-For says which address a request comes from.

/** A browser at an address: keeps its cookies (sign-in form, device, session) and sends its address. */
function browser(app: TestContext['app'], ip: string) {
  const agent = request.agent(app);
  let csrf = '';
  return {
    async attempt(email: string, password: string) {
      if (!csrf) csrf = csrfOf((await agent.get('/login').set('X-Forwarded-For', ip).expect(200)).text);
      const res = await agent.post('/login').type('form').set('X-Forwarded-For', ip).send({ email, password, _csrf: csrf });
      return res;
    },
    get: (path: string) => agent.get(path).set('X-Forwarded-For', ip),
    async signOut() {
      const page = await agent.get('/platform/ai-management').set('X-Forwarded-For', ip).expect(200);
      const token = cheerio.load(page.text)('form.signout input[name="_csrf"]').val() as string;
      await agent.post('/logout').type('form').set('X-Forwarded-For', ip).send({ _csrf: token }).expect(303);
      csrf = '';
    },
  };
}

const ip = () => `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
const statuses = async (n: number, attempt: () => Promise<{ status: number }>) => {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) seen.push((await attempt()).status);
  return seen;
};

let t: TestContext;
beforeAll(() => {
  t = startTestApp({ trustProxy: true });
});
afterAll(() => t.close());

describe('POST /login limits', () => {
  it('when one address fails 5 times on an account, then that address is refused, and the owner elsewhere still signs in', async () => {
    const owner = await makeUser(t.db);
    const attacker = browser(t.app, '203.0.113.7');
    expect(await statuses(6, () => attacker.attempt(owner.email, 'wrong-password'))).toEqual([401, 401, 401, 401, 401, 429]);
    const refused = await attacker.attempt(owner.email, owner.password);
    expect(refused.status).toBe(429);
    expect(cheerio.load(refused.text)('[role="alert"]').text()).toMatch(/Too many sign-in attempts\. Wait 1[45] minutes/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(14 * 60);
    const home = browser(t.app, '192.0.2.44');
    expect((await home.attempt(owner.email, owner.password)).status).toBe(303);
  });

  it('when the address is an IPv6 host, then its whole /56 counts as one client', async () => {
    const owner = await makeUser(t.db);
    const seen: number[] = [];
    for (let i = 1; i <= 6; i++) seen.push((await browser(t.app, `2001:db8:1:${i}::1`).attempt(owner.email, 'wrong-password')).status);
    expect(seen).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('when many addresses fail 50 times within the hour on one account, then a new browser is refused but the owner’s browser is not', async () => {
    const owner = await makeUser(t.db);
    const ownBrowser = browser(t.app, '192.0.2.10');
    expect((await ownBrowser.attempt(owner.email, owner.password)).status).toBe(303); // the owner signed in here before
    await ownBrowser.signOut();
    const spread = await Promise.all(
      Array.from({ length: 10 }, (_, a) => {
        const from = browser(t.app, `203.0.113.${100 + a}`);
        return statuses(5, () => from.attempt(owner.email, 'wrong-password'));
      }),
    );
    expect(spread.flat()).toEqual(new Array(50).fill(401));
    const stranger = browser(t.app, '192.0.2.99');
    expect((await stranger.attempt(owner.email, owner.password)).status).toBe(429);
    expect((await ownBrowser.attempt(owner.email, owner.password)).status).toBe(303);
    // Another account is not concerned.
    const other = await makeUser(t.db);
    expect((await browser(t.app, '192.0.2.99').attempt(other.email, other.password)).status).toBe(303);
  }, 120_000); // 50 password checks (argon2) on a shared machine

  it('when the owner’s device cookie is used for another email, then it does not exempt that account', async () => {
    const [owner, victim] = [await makeUser(t.db), await makeUser(t.db)];
    const attacker = browser(t.app, '192.0.2.20');
    expect((await attacker.attempt(owner.email, owner.password)).status).toBe(303); // a device cookie for the owner's account
    await attacker.signOut();
    await Promise.all(
      Array.from({ length: 10 }, (_, a) => {
        const from = browser(t.app, `203.0.113.${150 + a}`);
        return statuses(5, () => from.attempt(victim.email, 'wrong-password'));
      }),
    );
    expect((await attacker.attempt(victim.email, victim.password)).status).toBe(429);
  }, 120_000);

  it('when one address fails on 30 accounts, then its 31st attempt is refused, whatever the account; other addresses are not', async () => {
    const from = browser(t.app, '203.0.113.200');
    const seen = await statuses(31, async () => from.attempt(`nobody-${suffix()}@example.test`, 'wrong-password'));
    expect(seen.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(seen[30]).toBe(429);
    const user = await makeUser(t.db);
    expect((await from.attempt(user.email, user.password)).status).toBe(429);
    expect((await browser(t.app, ip()).attempt(user.email, user.password)).status).toBe(303);
  }, 120_000);

  it('when counts are stored, then no email or address is in the table as such', async () => {
    const email = `stored-${suffix()}@example.test`;
    await browser(t.app, '203.0.113.77').attempt(email, 'wrong-password');
    const rows = await t.db('login_failures').select('key');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((r) => r.key.includes(email) || r.key.includes('203.0.113.77'))).toBe(false);
  });
});

describe('two app instances on one database', () => {
  it('when failures are spread over both, then they add up: the 6th is refused by either', async () => {
    const scope = `shared-${suffix()}`;
    const [one, two] = [
      startTestApp({ trustProxy: true, loginLimitScope: scope }),
      startTestApp({ trustProxy: true, loginLimitScope: scope }),
    ];
    try {
      const owner = await makeUser(one.db);
      const [viaOne, viaTwo] = [browser(one.app, '203.0.113.9'), browser(two.app, '203.0.113.9')];
      const seen = [];
      for (let i = 0; i < 5; i++) seen.push((await (i % 2 ? viaTwo : viaOne).attempt(owner.email, 'wrong-password')).status);
      expect(seen).toEqual([401, 401, 401, 401, 401]);
      expect((await viaTwo.attempt(owner.email, owner.password)).status).toBe(429);
      expect((await viaOne.attempt(owner.email, owner.password)).status).toBe(429);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
