import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as cheerio from 'cheerio';
import knexFactory from 'knex';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedReference } from '../../seeds/reference.ts';
import { type EmbeddedCluster, freePort, openEmbeddedCluster } from '../../src/db/embedded.ts';
import { createDb } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { isDatabaseUnavailable } from '../../src/db/unavailable.ts';
import { databaseUrl, startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken, makeUser } from '../setup/factories.ts';
import { type Agent, signIn } from '../setup/session.ts';

const MESSAGE = 'The database is unavailable; try again in a few seconds';
const FEATURES_API = '/api/platform/ai-management/features';
const OVERVIEW = '/platform/ai-management';
const FRAGMENT = '/platform/ai-management/features?feature=chatbot&tab=overview&range=24h';
const event = (id: string) => ({ event_id: id, feature: 'chatbot', model: 'gpt-4o-mini', status: 'success', response_time_ms: 100 });

/** A PostgreSQL cluster of this file's own, so it can be stopped and started again. */
async function ownCluster(dir: string, port: number): Promise<EmbeddedCluster> {
  return openEmbeddedCluster({
    dir: path.join(dir, 'pg'),
    password: 'away',
    port,
    database: 'away',
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  });
}

function expectAway(res: request.Response) {
  expect(res.status).toBe(503);
  expect(res.headers['retry-after']).toBe('5');
}

describe('when the database server stops under a running app', () => {
  let dir: string;
  let port: number;
  let cluster: EmbeddedCluster | undefined;
  let t: TestContext;
  let admin: Agent;
  let readToken: string;
  let ingestToken: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-away-'));
    fs.chmodSync(dir, 0o755); // the postgres user must reach the data directory inside
    port = await freePort();
    cluster = await ownCluster(dir, port);
    const setup = createDb(cluster.url, 2);
    await migrateLatest(setup);
    await seedReference(setup);
    const user = await makeUser(setup, 'admin');
    readToken = (await makeToken(setup, 'read')).token;
    ingestToken = (await makeToken(setup, 'ingest')).token;
    await setup.destroy();
    t = startTestApp({ databaseUrl: cluster.url }, createDb(cluster.url, 5));
    admin = await signIn(t.app, user.email, user.password);
    // Everything works while the database is up, with connections open in both pools.
    await admin.get(OVERVIEW).expect(200);
    await request(t.app).get(FEATURES_API).auth(readToken, { type: 'bearer' }).expect(200);
    await cluster.stop();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await t?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('when a signed-in person opens a page, then 503 with Retry-After and the message, never 500', async () => {
    const res = await admin.get(OVERVIEW);
    expectAway(res);
    expect(cheerio.load(res.text)('#error').text()).toContain(MESSAGE);
  });

  it('when htmx asks for a fragment, then a 503 error fragment with Retry-After, retargeted to the error area', async () => {
    const res = await admin.get(FRAGMENT).set({ 'HX-Request': 'true', 'HX-Target': 'feature-overview' });
    expectAway(res);
    expect(res.headers['hx-retarget']).toBe('#errors');
    expect(res.text).not.toMatch(/<html|<nav/i);
    expect(cheerio.load(res.text)('#error').text()).toContain(MESSAGE);
  });

  it('when a token reads the API, then 503 JSON with the message and a correlation id', async () => {
    const res = await request(t.app).get(FEATURES_API).auth(readToken, { type: 'bearer' });
    expectAway(res);
    expect(res.body).toEqual({ success: false, error: MESSAGE, correlation_id: res.headers['x-request-id'] });
  });

  it('when the product sends usage, then 503 with Retry-After, so its client keeps the events and retries', async () => {
    const res = await request(t.app)
      .post('/api/v1/usage')
      .auth(ingestToken, { type: 'bearer' })
      .send({ events: [event('away-1')] });
    expectAway(res);
    expect(res.body).toMatchObject({ success: false, error: MESSAGE });
  });

  it('when /healthz is asked, then 503 with the database unreachable (SPEC §2)', async () => {
    const res = await request(t.app).get('/healthz');
    expectAway(res);
    expect(res.body).toEqual({ status: 'error', db: 'unreachable' });
  });

  it('when /readyz is asked, then 503: a balancer sends no traffic to an instance without its database', async () => {
    const res = await request(t.app).get('/readyz');
    expectAway(res);
    expect(res.body).toEqual({ status: 'unavailable', db: 'unreachable' });
  });

  it('logs a warning, not a failed request, and when the database is back, then the same app answers again', async () => {
    expect(t.logs()).toContain('database unavailable');
    expect(t.logs()).not.toContain('request failed');
    cluster = await ownCluster(dir, port);
    expect(cluster.url).toContain(`:${port}/`);
    await admin.get(OVERVIEW).expect(200);
    await request(t.app).get(FEATURES_API).auth(readToken, { type: 'bearer' }).expect(200);
    const res = await request(t.app)
      .post('/api/v1/usage')
      .auth(ingestToken, { type: 'bearer' })
      .send({ events: [event('away-1')] })
      .expect(200);
    expect(res.body).toMatchObject({ accepted: 1, duplicates: 0, rejected: [] });
    await request(t.app).get('/healthz').expect(200);
  }, 60_000);
});

describe('when every pooled connection is busy for longer than the acquire timeout', () => {
  it('then a request waiting for one answers 503 with Retry-After (KnexTimeoutError), and 200 once one is free', async () => {
    const setup = createDb(databaseUrl(), 1);
    const { token } = await makeToken(setup, 'read');
    await setup.destroy();
    const small = knexFactory({ client: 'pg', connection: databaseUrl(), pool: { min: 0, max: 1 }, acquireConnectionTimeout: 300 });
    const t = startTestApp({}, small);
    const held = await small.transaction();
    try {
      const res = await request(t.app).get(FEATURES_API).auth(token, { type: 'bearer' });
      expectAway(res);
      expect(res.body.error).toBe(MESSAGE);
    } finally {
      await held.rollback();
    }
    try {
      await request(t.app).get(FEATURES_API).auth(token, { type: 'bearer' }).expect(200);
    } finally {
      await t.close();
    }
  });
});

describe('isDatabaseUnavailable', () => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it.each([
    ['connection refused', withCode('ECONNREFUSED')],
    ['unknown host', withCode('ENOTFOUND')],
    ['admin shutdown (57P01)', withCode('57P01', 'terminating connection due to administrator command')],
    ['crash shutdown (57P02)', withCode('57P02')],
    ['cannot connect now (57P03)', withCode('57P03', 'the database system is starting up')],
    ['connection failure (08006)', withCode('08006')],
    ['connection exception (08000)', withCode('08000')],
    ['a deadlock (40P01)', withCode('40P01', 'deadlock detected')],
    ['a serialization failure (40001)', withCode('40001')],
    ['a lock timeout (55P03)', withCode('55P03', 'canceling statement due to lock timeout')],
    ['a read-only standby (25006)', withCode('25006', 'cannot execute INSERT in a read-only transaction')],
    ['a cancelled query (57014)', withCode('57014', 'canceling statement due to statement timeout')],
    ['a lost connection', new Error('Connection terminated unexpectedly')],
    ['a pool acquire timeout', Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
    ['every address refused', Object.assign(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]), { code: undefined })],
  ])('when %s, then the database is unavailable', (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a plain error', new Error('boom')],
    ['a provider that cannot be reached (fetch)', new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') })],
    ['nothing', undefined],
  ])('when %s, then it is not', (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
