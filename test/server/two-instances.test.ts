import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/knex.ts';
import { run as probe } from '../../src/jobs/probes.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken, makeUser, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { csrfOf } from '../setup/session.ts';

// Two app instances on one database (issue 19, SPEC §10.6): usage sent through both while both fold
// it is counted once; each job runs once per tick; a session made on one is honoured by the other.
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let a: TestContext;
let b: TestContext;
beforeAll(async () => {
  own = await ownSeededDatabase('twins');
  a = startTestApp({ databaseUrl: own.url }, createDb(own.url, 5));
  b = startTestApp({ databaseUrl: own.url }, createDb(own.url, 5));
});
afterAll(async () => {
  await a.close();
  await b.close();
  await own.db.destroy();
  await own.drop();
});

const sums = async (sql: string, id: string) => (await own.db.raw(sql, [id])).rows[0];

describe('two instances on one database', () => {
  it('fold usage sent through both, while both run the rollup, exactly once: the rollups equal the raw rows', async () => {
    const feature = await makeFeature(own.db);
    const token = (await makeToken(own.db, 'ingest')).token;
    const batch = (n: number) =>
      Array.from({ length: 40 }, (_, i) => ({
        event_id: `twin-${n}-${i}-${suffix()}`,
        feature: feature.name,
        model: 'gpt-4o-mini',
        status: i % 7 === 0 ? 'error' : 'success',
        response_time_ms: 50 + ((n * 40 + i) % 900),
        input_tokens: 10 + i,
        output_tokens: 5 + n,
        created_at: new Date(Date.now() - ((n * 40 + i) % 180) * 60_000).toISOString(),
      }));
    const sends = Array.from({ length: 16 }, (_, n) =>
      request(n % 2 ? a.app : b.app)
        .post('/api/v1/usage')
        .set('Authorization', `Bearer ${token}`)
        .send({ events: batch(n) })
        .expect(200),
    );
    const folds = Array.from({ length: 8 }, (_, n) => runRollup({ db: n % 2 ? a.db : b.db }));
    await Promise.all([...sends, ...folds]);
    await runRollup({ db: a.db });

    const raw = await sums(
      'SELECT count(*)::int AS requests, count(*) FILTER (WHERE status = $$error$$)::int AS errors, sum(response_time_ms)::bigint AS latency, sum(cost_usd) AS cost FROM ai_usage_logs WHERE feature_id = ?',
      feature.id,
    );
    expect(raw.requests).toBe(16 * 40);
    for (const table of ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day']) {
      const rolled = await sums(
        `SELECT sum(requests)::int AS requests, sum(errors)::int AS errors, sum(latency_sum_ms)::bigint AS latency, sum(cost_usd) AS cost FROM ${table} WHERE feature_id = ?`,
        feature.id,
      );
      expect(rolled).toEqual(raw);
    }
    const spent = await sums('SELECT sum(cost_usd) AS cost FROM usage_spend_month WHERE feature_id = ?', feature.id);
    expect(spent.cost).toEqual(raw.cost);
    const counted = await sums(
      "SELECT sum(r)::int AS requests FROM usage_minute_counts, unnest(requests) r WHERE scope = 'feature' AND scope_id = ?",
      feature.id,
    );
    expect(counted.requests).toBe(raw.requests);
  });

  it('probe each provider once per slot, whichever instance ticks', async () => {
    const now = new Date();
    const [x, y] = await Promise.all([
      probe({ db: a.db, now, providers: a.app.providers }),
      probe({ db: b.db, now, providers: b.app.providers }),
    ]);
    // One of them probed every active provider; the other was locked out or found nothing due.
    const active = Number((await own.db('ai_providers').where({ status: 'active' }).count({ n: '*' }))[0].n);
    expect(x.probed + y.probed).toBe(active);
    const again = await probe({ db: b.db, now, providers: b.app.providers });
    expect(again.probed).toBe(0);
    const perProvider = await own
      .db('health_checks')
      .where({ kind: 'probe' })
      .groupBy('provider_id')
      .select('provider_id')
      .count({ n: '*' });
    for (const row of perProvider) expect(Number(row.n)).toBe(1);
  });

  it('honour a session made on the other instance', async () => {
    const user = await makeUser(own.db, 'viewer');
    const login = await request(a.app).get('/login').expect(200);
    const loginCookies = login.headers['set-cookie'] as unknown as string[];
    const signedIn = await request(a.app)
      .post('/login')
      .set('Cookie', loginCookies.map((c) => c.split(';')[0]).join('; '))
      .type('form')
      .send({ email: user.email, password: user.password, _csrf: csrfOf(login.text) })
      .expect(303);
    const session = (signedIn.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const page = await request(b.app).get('/platform/ai-management/features').set('Cookie', session);
    expect(page.status).toBe(200);
    expect(page.text).toContain(user.email);
  });
});
