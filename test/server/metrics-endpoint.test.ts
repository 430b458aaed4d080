import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tick } from '../../src/jobs/index.ts';
import { createLogger } from '../../src/logger.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { signInAs } from '../setup/session.ts';

// GET /metrics (issue 19): the console's own figures for Prometheus, behind METRICS_TOKEN. A database
// of this file's own, so the rollup cursor (and its lag) is nobody else's.
const TOKEN = 'metrics-token-0123456789abcdef';
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let t: TestContext;
beforeAll(async () => {
  own = await ownSeededDatabase('metrics');
  t = startTestApp({ databaseUrl: own.url, metricsToken: TOKEN }, own.db);
});
afterAll(async () => {
  await t.close();
  await own.drop();
});

const scrape = () => request(t.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
/** The value of one series (name and labels exactly as written), or undefined. */
const seriesValue = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('GET /metrics', () => {
  it('refuses without the token, or with another one, and names no figure', async () => {
    for (const auth of [undefined, 'Bearer wrong-token-0123456789', `Basic ${TOKEN}`]) {
      const r = request(t.app).get('/metrics');
      const res = await (auth ? r.set('Authorization', auth) : r);
      expect(res.status).toBe(401);
      expect(res.text).not.toContain('switchboard_');
    }
  });

  it('is off (404) when no token is configured', async () => {
    const off = startTestApp({ databaseUrl: own.url }, own.db);
    const res = await request(off.app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(404);
    expect(res.text).toContain('METRICS_TOKEN');
    await off.app.close();
  });

  it('counts ingested events by outcome and times requests by route pattern', async () => {
    const feature = await makeFeature(own.db);
    const ingest = (await makeToken(own.db, 'ingest')).token;
    const ev = (id: string, extra = {}) => ({
      event_id: id,
      feature: feature.name,
      model: 'gpt-4o-mini',
      status: 'success',
      response_time_ms: 80,
      ...extra,
    });
    const id = `m-${suffix()}`;
    const before = (await scrape()).text;
    const sent = await request(t.app)
      .post('/api/v1/usage')
      .set('Authorization', `Bearer ${ingest}`)
      .send({ events: [ev(id), ev(id), ev(`m-${suffix()}`, { status: 'nonsense' })] });
    expect(sent.body).toMatchObject({ accepted: 1, duplicates: 1 });
    const { agent } = await signInAs(t, 'admin');
    await agent.get(`/platform/ai-management/features/${feature.name}/live?since=0`).expect(200);

    const text = (await scrape()).text;
    const delta = (series: string) => (seriesValue(text, series) ?? 0) - (seriesValue(before, series) ?? 0);
    expect(delta('switchboard_ingest_events_total{outcome="accepted"}')).toBe(1);
    expect(delta('switchboard_ingest_events_total{outcome="duplicate"}')).toBe(1);
    expect(delta('switchboard_ingest_events_total{outcome="rejected"}')).toBe(1);
    expect(text).toMatch(/switchboard_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/usage",status="2xx"\} \d+/);
    expect(text).toMatch(
      /switchboard_http_request_duration_seconds_count\{method="GET",route="\/platform\/ai-management\/features\/:slug\/live",status="2xx"\} \d+/,
    );
    // No concrete URL becomes a label.
    expect(text).not.toContain(`/features/${feature.name}"`);
    expect(text).toMatch(/switchboard_db_pool_connections\{state="used"\} \d+/);
  });

  it('says how far behind the rollups are: the seconds since the cursor moved while rows wait, 0 once folded', async () => {
    const feature = await makeFeature(own.db);
    const ingest = (await makeToken(own.db, 'ingest')).token;
    await runRollup({ db: own.db });
    await request(t.app)
      .post('/api/v1/usage')
      .set('Authorization', `Bearer ${ingest}`)
      .send({
        events: [{ event_id: `m-${suffix()}`, feature: feature.name, model: 'gpt-4o-mini', status: 'success', response_time_ms: 80 }],
      })
      .expect(200);
    await own
      .db('rollup_cursors')
      .where({ name: 'usage' })
      .update({ updated_at: own.db.raw("now() - interval '95 seconds'") });
    expect(seriesValue((await scrape()).text, 'switchboard_rollup_lag_seconds')).toBeGreaterThanOrEqual(95);
    await runRollup({ db: own.db });
    expect(seriesValue((await scrape()).text, 'switchboard_rollup_lag_seconds')).toBe(0);
  });

  it('times every job tick by outcome; a failing job is counted as failed, logged, and does not throw', async () => {
    const deps = {
      db: own.db,
      logger: createLogger('silent'),
      providers: t.app.providers,
      telemetry: t.app.telemetry,
      retention: { rawDays: 90, keyDays: 7 },
    };
    await tick('rollup', ({ db }) => runRollup({ db }), deps);
    await tick(
      'broken',
      async () => {
        throw new Error('the job broke');
      },
      deps,
    );
    const text = (await scrape()).text;
    expect(seriesValue(text, 'switchboard_job_duration_seconds_count{job="rollup",outcome="ok"}')).toBe(1);
    expect(seriesValue(text, 'switchboard_job_duration_seconds_count{job="broken",outcome="failed"}')).toBe(1);
  });
});
