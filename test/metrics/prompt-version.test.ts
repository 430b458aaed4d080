import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as migration from '../../migrations/20261128120000_usage_prompt_version.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { savePromptVersion } from '../../src/services/prompt-versions.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken, suffix } from '../setup/factories.ts';
import { HOUR, insertUsage, MINUTE, modelsByName, withUsageDatabase } from '../setup/usage-factory.ts';

// Issue 15 (SPEC §10.1): usage events may name the prompt version they used, by number or by id;
// the figures can be split by it. Shared test database: every test uses features of its own.

const SYSTEM = { kind: 'system', label: 'test' } as const;
const API = '/api/platform/ai-management';

let t: TestContext;
let ingest: string;
let read: string;
beforeAll(async () => {
  t = startTestApp();
  ingest = (await makeToken(t.db, 'ingest')).token;
  read = (await makeToken(t.db, 'read')).token;
});
afterAll(() => t.close());

const post = (events: unknown[]) => request(t.app).post('/api/v1/usage').set('Authorization', `Bearer ${ingest}`).send({ events });
const ev = (feature: string, extra: Record<string, unknown> = {}) => ({
  event_id: `pv-${suffix()}-${suffix()}`,
  feature,
  model: 'gpt-4o-mini',
  status: 'success',
  response_time_ms: 120,
  ...extra,
});

/** A feature with prompt versions 1 and 2. */
async function featureWithVersions() {
  const f = await makeFeature(t.db);
  const v1 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer {{q}}', sample_values: { q: 'Why?' } })).version;
  const v2 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer briefly {{q}}', sample_values: { q: 'Why?' } })).version;
  return { f, v1, v2 };
}

const stored = async (featureId: string) =>
  Object.fromEntries(
    (await t.db('ai_usage_logs').where({ feature_id: featureId }).select('event_id', 'prompt_version')).map((r) => [
      r.event_id,
      r.prompt_version,
    ]),
  );

describe('POST /api/v1/usage with prompt_version', () => {
  it('when events name a version by number or by id, then each is stored with its number and no warning', async () => {
    const { f, v2 } = await featureWithVersions();
    const events = [ev(f.name, { prompt_version: 1 }), ev(f.name, { prompt_version: v2.id.toUpperCase() }), ev(f.name)];
    const res = await post(events).expect(200);
    expect(res.body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await stored(f.id)).toEqual({ [events[0].event_id]: 1, [events[1].event_id]: 2, [events[2].event_id]: null });
  });

  it("when a version is unknown, another feature's, or no version at all, then the event is still stored (without it) and the answer warns per event", async () => {
    const { f } = await featureWithVersions();
    const other = await featureWithVersions();
    const unknownId = crypto.randomUUID();
    const events = [
      ev(f.name, { prompt_version: 3 }),
      ev(f.name, { prompt_version: other.v1.id }),
      ev(f.name, { prompt_version: unknownId }),
      ev(f.name, { prompt_version: 0 }),
      ev(f.name, { prompt_version: 1.5 }),
      ev(f.name, { prompt_version: 'v2' }),
      ev(f.name, { prompt_version: 2 }),
    ];
    const res = await post(events).expect(200);
    const notOurs = `is not a version of the ${f.name} prompt (stored without a version)`;
    const malformed = 'prompt_version must be a version number (1 or more) or a version id (stored without a version)';
    expect(res.body).toEqual({
      accepted: 7,
      duplicates: 0,
      rejected: [],
      warnings: [
        { index: 0, field: 'prompt_version', message: `prompt_version 3 ${notOurs}` },
        {
          index: 1,
          field: 'prompt_version',
          message: `prompt_version "${other.v1.id}" is a version of another feature's prompt (stored without a version)`,
        },
        { index: 2, field: 'prompt_version', message: `prompt_version "${unknownId}" ${notOurs}` },
        { index: 3, field: 'prompt_version', message: malformed },
        { index: 4, field: 'prompt_version', message: malformed },
        { index: 5, field: 'prompt_version', message: malformed },
      ],
    });
    const rows = await stored(f.id);
    expect(events.map((e) => rows[e.event_id])).toEqual([null, null, null, null, null, null, 2]);
  });

  it('when a version is saved after the catalogue was read, then an event naming it at once is stored with it', async () => {
    const { f } = await featureWithVersions();
    await post([ev(f.name, { prompt_version: 2 })]).expect(200); // the catalogue is now cached
    await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer in French {{q}}', sample_values: { q: 'Why?' } });
    const late = ev(f.name, { prompt_version: 3 });
    expect((await post([late]).expect(200)).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect((await stored(f.id))[late.event_id]).toBe(3);
  });
});

describe('GET …/features/:id/metrics?split=prompt_version', () => {
  it('when split, then each version has its own figures and series, and they add up to the whole', async () => {
    const { f } = await featureWithVersions();
    const at = (minutes: number) => new Date(Date.now() - minutes * MINUTE).toISOString();
    await post([
      ev(f.name, { prompt_version: 1, response_time_ms: 100, created_at: at(200) }),
      ev(f.name, { prompt_version: 1, response_time_ms: 300, status: 'error', created_at: at(190) }),
      ev(f.name, { prompt_version: 2, response_time_ms: 900, created_at: at(30) }),
      ev(f.name, { response_time_ms: 500, created_at: at(20) }),
      ev(f.name, { prompt_version: 2, response_time_ms: 700, environment: 'staging', created_at: at(10) }),
    ]).expect(200);
    await runRollup({ db: t.db });
    const get = (q: string) =>
      request(t.app).get(`${API}/features/${f.id}/metrics?time_range=24h${q}`).set('Authorization', `Bearer ${read}`);
    const whole = (await get('').expect(200)).body;
    const res = (await get('&split=prompt_version').expect(200)).body;
    expect(res.metadata).toMatchObject({ environment: 'production', split: 'prompt_version' });
    const { by_prompt_version: split, ...rest } = res.data;
    // Read a moment apart: the same figures, the range's start aside.
    const stable = (d: typeof rest) => ({ ...d, historical: d.historical.data.map((p: { requests: number }) => p.requests) });
    expect(stable(rest)).toEqual(stable(whole.data));
    expect(whole.data.by_prompt_version).toBeUndefined();
    expect(split.map((v: Record<string, unknown>) => [v.prompt_version, v.total_requests, v.error_rate, v.response_time, v.p95])).toEqual([
      [1, 2, 50, 200, 290],
      [2, 1, 0, 900, 900],
      [null, 1, 0, 500, 500],
    ]);
    rest.historical.data.forEach((p: { requests: number; timestamp: string }, i: number) => {
      expect(split.reduce((n: number, v: { data: { requests: number; timestamp: string }[] }) => n + v.data[i].requests, 0)).toBe(
        p.requests,
      );
      for (const v of split) expect(v.data[i].timestamp).toBe(p.timestamp);
    });
    const staging = (await get('&split=prompt_version&environment=staging').expect(200)).body.data.by_prompt_version;
    expect(staging.map((v: { prompt_version: number; total_requests: number }) => [v.prompt_version, v.total_requests])).toEqual([[2, 1]]);
    expect((await get('&split=model_version').expect(400)).body.error).toMatch(/split must be one of prompt_version/);
  });
});

describe('the migration', () => {
  it('when rolled back, then every version of a rollup key folds into one row with the same sums, and back up the rows are versionless', async () => {
    await withUsageDatabase(async (db) => {
      const models = await modelsByName(db);
      const feature = await makeFeature(db);
      const model = models.get('gpt-4o-mini')!;
      const at = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR + 5 * MINUTE);
      await insertUsage(db, [
        { feature_id: feature.id, model, created_at: at, prompt_version: 1, response_time_ms: 100 },
        { feature_id: feature.id, model, created_at: at, prompt_version: 2, response_time_ms: 200 },
        { feature_id: feature.id, model, created_at: at, response_time_ms: 300 },
      ]);
      await runRollup({ db });
      const sums = (table: string) =>
        db(table)
          .where({ feature_id: feature.id })
          .select('bucket')
          .count({ rows: '*' })
          .sum({ requests: 'requests', latency: 'latency_sum_ms' })
          .groupBy('bucket');
      expect(await sums('usage_rollup_minute')).toEqual([{ bucket: at, rows: 3, requests: 3, latency: 600 }]);
      await migration.down(db);
      for (const table of ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day']) {
        const [row] = await sums(table);
        expect(row, table).toMatchObject({ rows: 1, requests: 3, latency: 600 });
      }
      await migration.up(db);
      expect(await db('usage_rollup_hour').where({ feature_id: feature.id }).pluck('prompt_version')).toEqual([0]);
      expect(await db('ai_usage_logs').where({ feature_id: feature.id }).whereNotNull('prompt_version').count({ n: '*' })).toEqual([
        { n: 0 },
      ]);
    });
  });
});
