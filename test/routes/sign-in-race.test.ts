import type { Server } from 'node:http';
import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/knex.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { listen } from '../setup/browser.ts';
import { makeUser } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { sessionIdOf } from '../setup/session.ts';

// The sign-in's 303 and the session it stores, with the session store held up at the moment that
// matters: a trigger in a database of this file's own makes every write of a signed-in session
// (one that carries authenticatedAt) wait for an advisory lock the test holds. A browser follows a
// 303 as soon as its headers arrive, so what is stored by then is what its next request sees.

const LOCK = 4242;

let t: TestContext;
let drop: () => Promise<void>;
let lock: Db;
let server: Server;
/** The session row as stored when the 303 had arrived, and once the sign-in's answer was complete. */
let atRedirect: { sess: Record<string, unknown> } | undefined;
let afterwards: { sess: Record<string, unknown> } | undefined;
let status: number;

beforeAll(async () => {
  const own = await ownSeededDatabase('sign_in_race');
  drop = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  await t.db.raw(`
    CREATE FUNCTION hold_signed_in_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.sess::jsonb -> 'authenticatedAt' IS NOT NULL THEN PERFORM pg_advisory_xact_lock(${LOCK}); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER hold_signed_in_sessions BEFORE INSERT OR UPDATE ON sessions
      FOR EACH ROW EXECUTE FUNCTION hold_signed_in_sessions();`);
  const user = await makeUser(t.db, 'admin');
  let baseUrl: string;
  ({ server, baseUrl } = await listen(t.app));
  lock = createDb(own.url, 1); // one connection: the advisory lock is that session's
  await lock.raw('SELECT pg_advisory_lock(?)', [LOCK]);

  const login = await fetch(`${baseUrl}/login`);
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]);
  const csrf = load(await login.text())('input[name="_csrf"]').val() as string;
  const answer = fetch(`${baseUrl}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: cookie.join('; ') },
    body: new URLSearchParams({ email: user.email, password: user.password, _csrf: csrf }),
  });
  // The store is let go once a write of the signed-in session waits for it. Whatever the 303 says
  // is read the moment its headers arrive: before the release (the bug) or after it.
  const released = lockWaited().then(() => lock.raw('SELECT pg_advisory_unlock(?)', [LOCK]));
  const signedIn = await answer;
  status = signedIn.status;
  const sid = sessionIdOf(signedIn.headers.getSetCookie())!;
  atRedirect = await t.db('sessions').where({ sid }).first('sess');
  await released;
  await signedIn.text();
  afterwards = await t.db('sessions').where({ sid }).first('sess');
});
/** Resolves once a session write waits for the test's lock (polled, with a deadline). */
async function lockWaited(deadline = Date.now() + 20_000): Promise<void> {
  while (Date.now() < deadline) {
    const { rows } = await t.db.raw("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ? AND NOT granted", [
      LOCK,
    ]);
    if (rows[0].n > 0) return;
  }
  throw new Error('no session write waited for the lock');
}

afterAll(async () => {
  await lock?.destroy();
  server?.closeAllConnections(); // fetch keeps its connections alive
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
  await drop?.();
});

describe('POST /login while the session store is slow', () => {
  it('when the 303 of a sign-in arrives, then the session it names is stored signed in', () => {
    expect(status).toBe(303);
    expect(atRedirect?.sess).toMatchObject({ passport: { user: expect.any(String) } });
  });

  it('when the sign-in has answered completely, then its session is stored with the sign-in time', () => {
    expect(afterwards?.sess).toMatchObject({ passport: { user: expect.any(String) }, authenticatedAt: expect.any(Number) });
  });

  // The sign-in race the browser tests met now and then on a busy machine: were the 303 sent before the
  // sign-in time is stored, a request reading the session meanwhile would find it signed in without
  // authenticatedAt, which identify() takes as past the 12-hour lifetime (it ends the session).
  it('when the 303 of a sign-in arrives, then the session it names already has its sign-in time', () => {
    expect(atRedirect?.sess).toHaveProperty('authenticatedAt');
  });
});
