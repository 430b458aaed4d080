import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';

// /readyz (issue 19): ready only when not stopping, the database answers and its schema is current.
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let t: TestContext;
beforeAll(async () => {
  own = await ownSeededDatabase('ready');
  t = startTestApp({ databaseUrl: own.url }, own.db);
});
afterAll(async () => {
  await t.close();
  await own.drop();
});

describe('GET /readyz', () => {
  it('answers 503 naming the migrations this code needs that have not run, and 200 once they have', async () => {
    const last = await own.db('knex_migrations').orderBy('id', 'desc').first();
    await own.db('knex_migrations').where({ id: last.id }).delete();
    const waiting = await request(t.app).get('/readyz').expect(503);
    expect(waiting.body).toEqual({ status: 'migrations pending', pending: [last.name.replace(/\.[jt]s$/, '')] });
    // /healthz still says the instance is alive: liveness is not readiness.
    await request(t.app).get('/healthz').expect(200);
    await own.db('knex_migrations').insert(last);
    expect((await request(t.app).get('/readyz').expect(200)).body).toEqual({ status: 'ready' });
  });

  it('turns 503 once the instance is stopping', async () => {
    t.app.readiness.beginStopping();
    expect((await request(t.app).get('/readyz').expect(503)).body).toEqual({ status: 'stopping' });
  });
});
