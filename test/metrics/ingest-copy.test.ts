import type { PoolClient } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_LOCK } from '../../src/metrics/rollup.ts';
import { ingestEvents } from '../../src/services/ingest.ts';
import { copiesAndCommit, copyData } from '../../src/services/ingest-store.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeModel, makeToken, suffix } from '../setup/factories.ts';
import { postUsage, usageEvent } from '../setup/usage-api.ts';

// Ingestion stores a batch with COPY (src/services/ingest-store.ts): its text format, its pricing
// outside SQL and its bulk claim of event ids must store exactly what an INSERT would have.
let t: TestContext;
let ingest: string;
beforeAll(async () => {
  t = startTestApp();
  ingest = (await makeToken(t.db, 'ingest')).token;
});
afterAll(() => t.close());

const post = (events: unknown[]) => postUsage(t.app, ingest, { events });
const ev = (feature: string, extra: Record<string, unknown> = {}) => usageEvent('c', feature, extra);
const stored = (featureId: string) => t.db('ai_usage_logs').where({ feature_id: featureId }).orderBy('id');

describe('POST /api/v1/usage stored with COPY', () => {
  it("when ids and users hold COPY's special characters, then they are stored exactly and a retry is a duplicate", async () => {
    const f = await makeFeature(t.db);
    const odd = ['back\\slash', 'tab\there', 'line\nbreak', 'carriage\rreturn', '\\N', 'ünï €', '\\t literally'];
    const events = odd.map((text) => ev(f.name, { event_id: `${text}-${suffix()}`, end_user_id: text }));
    expect((await post(events).expect(200)).body).toEqual({ accepted: odd.length, duplicates: 0, rejected: [] });
    const rows = await stored(f.id);
    expect(rows.map((r) => [r.event_id, r.end_user_id]).sort()).toEqual(events.map((e) => [e.event_id, e.end_user_id]).sort());
    expect((await post(events).expect(200)).body).toEqual({ accepted: 0, duplicates: odd.length, rejected: [] });
    expect(await stored(f.id)).toHaveLength(odd.length);
  });

  it('when a batch mixes stored and new ids, then only the new ones are stored, each once, and the rest are duplicates', async () => {
    const f = await makeFeature(t.db);
    const first = Array.from({ length: 30 }, () => ev(f.name));
    await post(first.filter((_e, i) => i % 3 === 0)).expect(200);
    expect((await post(first).expect(200)).body).toEqual({ accepted: 20, duplicates: 10, rejected: [] });
    expect((await stored(f.id)).map((r) => r.event_id).sort()).toEqual(first.map((e) => e.event_id).sort());
  });

  it('when an id or a user holds a lone UTF-16 surrogate (PostgreSQL would store it as U+FFFD), then that event is rejected and the rest stored', async () => {
    const f = await makeFeature(t.db);
    const base = `lone-${suffix()}`;
    const events = [
      ev(f.name, { event_id: `${base}\uD800` }),
      ev(f.name, { event_id: `${base}\uDC00` }),
      ev(f.name, { end_user_id: 'user\uDFFF' }),
      ev(f.name, { event_id: `${base}-pair-\uD83D\uDE00`, end_user_id: '\uD83D\uDE00' }),
    ];
    const message = 'must be well-formed Unicode (it holds a lone UTF-16 surrogate)';
    expect((await post(events).expect(200)).body).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [
        { index: 0, error: `event_id ${message}` },
        { index: 1, error: `event_id ${message}` },
        { index: 2, error: `end_user_id ${message}` },
      ],
    });
    expect((await stored(f.id)).map((r) => [r.event_id, r.end_user_id])).toEqual([[`${base}-pair-😀`, '😀']]);
  });

  it('when costs are priced, then they equal what PostgreSQL computes from the list prices, to the last rounding', async () => {
    const f = await makeFeature(t.db);
    const m = await makeModel(t.db, { input_price_per_1k: 0.000015, output_price_per_1k: 9.999999 });
    const tokens = [
      [1, 1],
      [3, 7],
      [33_333, 0],
      [0, 99_999],
      [12_345_678, 5],
      [99_999_999, 0],
    ];
    const listed = tokens.map(([input_tokens, output_tokens]) => ev(f.name, { model: m.id, input_tokens, output_tokens }));
    const given = [0.1, 1e-9, 0.123456785, 3.00000001].map((cost_usd, i) =>
      ev(f.name, { model: m.id, cost_usd, input_tokens: tokens[i][0], output_tokens: tokens[i][1] }),
    );
    given.push(ev(f.name, { model: m.id, cost_usd: 0.7, input_tokens: 0, output_tokens: 0 }));
    expect((await post([...listed, ...given]).expect(200)).body.accepted).toBe(listed.length + given.length);
    // The pricing rule as one SQL expression (SPEC §7): list prices per direction, a given cost split
    // in proportion to them (or to the tokens when they charge nothing).
    const { rows } = await t.db.raw(
      `WITH p AS (
         SELECT l.event_id, l.cost_usd, l.input_cost_usd, l.input_tokens AS ti, l.output_tokens AS t_out,
                round(g.cost::numeric, 8) AS given,
                round(l.input_tokens * m.input_price_per_1k / 1000, 8) AS li, round(l.output_tokens * m.output_price_per_1k / 1000, 8) AS lo
         FROM ai_usage_logs l JOIN ai_models m ON m.id = l.model_id
         LEFT JOIN unnest(:ids::text[], :costs::text[]) AS g(event_id, cost) ON g.event_id = l.event_id
         WHERE l.feature_id = :feature)
       SELECT event_id, cost_usd::text AS cost, input_cost_usd::text AS input,
              coalesce(given, li + lo)::text AS want_cost,
              (CASE WHEN given IS NULL THEN li
                    WHEN li + lo > 0 THEN round(given * li / (li + lo), 8)
                    WHEN ti + t_out > 0 THEN round(given * ti / (ti + t_out), 8)
                    ELSE given END)::text AS want_input
       FROM p`,
      { feature: f.id, ids: given.map((e) => e.event_id), costs: given.map((e) => String(e.cost_usd)) },
    );
    expect(rows).toHaveLength(listed.length + given.length);
    for (const r of rows) expect([r.event_id, r.cost, r.input]).toEqual([r.event_id, r.want_cost, r.want_input]);
    // The half-way roundings went up: 0.000015 × 1 / 1000 = 1.5e-8 and 9.999999 × 1 / 1000 = 0.009999999.
    const one = rows.find((r: { event_id: string }) => r.event_id === listed[0].event_id);
    expect([one.input, one.cost]).toEqual(['0.00000002', '0.01000002']);
  });

  it('when an event is older than the year 1 or its list-price cost overflows cost_usd, then that event alone is rejected and the rest stored', async () => {
    const f = await makeFeature(t.db);
    const m = await makeModel(t.db, { input_price_per_1k: 999.999999, output_price_per_1k: 999.999999 });
    const events = [
      ev(f.name, { model: m.id, input_tokens: 1000 }),
      ev(f.name, { created_at: '0000-06-01T00:00:00Z' }),
      ev(f.name, { model: m.id, input_tokens: 99_999_999 }),
      ev(f.name, { model: m.id, input_tokens: 99_999_999, cost_usd: 12.5 }),
      ev(f.name, { created_at: '0001-01-01T00:00:00Z' }),
    ];
    expect((await post(events).expect(200)).body).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: [
        { index: 1, error: 'created_at is before the year 1 (UTC), which cannot be stored' },
        { index: 2, error: "cost at the model's list prices exceeds the largest storable cost (999999.99999999 USD)" },
      ],
    });
    const rows = await stored(f.id);
    expect(rows.map((r) => [r.event_id, r.cost_usd]).sort()).toEqual(
      [
        [events[0].event_id, 999.999999],
        [events[3].event_id, 12.5],
        [events[4].event_id, 0],
      ].sort(),
    );
    // The refused id was not claimed: once sent with a cost of its own, it is stored.
    expect((await post([{ ...events[2], cost_usd: 1 }]).expect(200)).body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('when an id is locked by a session that does not end, then the batch answers 503 after the lock timeout, storing nothing; retried once the lock is gone, it is stored once', async () => {
    const f = await makeFeature(t.db);
    const events = [ev(f.name), ev(f.name)];
    const ids = events.map((e) => e.event_id);
    const holder = await t.db.transaction();
    const impatient = startTestApp({ ingestLockTimeoutMs: 200 });
    try {
      await holder('ai_usage_event_keys').insert({ event_id: ids[1], created_at: new Date() });
      const res = await request(impatient.app).post('/api/v1/usage').set('Authorization', `Bearer ${ingest}`).send({ events });
      expect([res.status, res.headers['retry-after']]).toEqual([503, '5']);
      expect(await t.db('ai_usage_event_keys').whereIn('event_id', ids).count({ n: '*' })).toEqual([{ n: 0 }]);
      expect(await stored(f.id)).toEqual([]);
    } finally {
      await holder.rollback();
      await impatient.close();
    }
    expect((await post(events).expect(200)).body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect((await post(events).expect(200)).body).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    expect((await stored(f.id)).map((r) => r.event_id).sort()).toEqual([...ids].sort());
  });

  it('when a feature is deleted after the catalogue was read, then its events are rejected and nothing of them is stored', async () => {
    const [kept, doomed] = [await makeFeature(t.db), await makeFeature(t.db)];
    // The catalogue is read (the features are new to it) and kept: the next batch comes at the same instant.
    const now = new Date();
    expect((await ingestEvents(t.db, [ev(kept.name)], now)).accepted).toBe(1);
    await t.db('ai_features').where({ id: doomed.id }).del();
    expect(await ingestEvents(t.db, [ev(kept.name), ev(doomed.name), ev(kept.name)], now)).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [{ index: 1, error: `unknown feature ${doomed.id}` }],
    });
    expect(await t.db('ai_usage_logs').where({ feature_id: doomed.id }).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect((await post([ev(doomed.name)]).expect(200)).body.rejected).toEqual([{ index: 0, error: `unknown feature ${doomed.name}` }]);
  });
});

describe('group commit: batches that wait are written together', () => {
  const batchesOf = (feature: string, sizes: number[]) => sizes.map((n) => Array.from({ length: n }, () => ev(feature)));
  const transactions = async (featureId: string) =>
    Number(
      (
        await t
          .db('ai_usage_logs')
          .where({ feature_id: featureId })
          .countDistinct({ n: t.db.raw('xmin::text') })
      )[0].n,
    );

  it('when batches arrive while others are being written, then fewer transactions write them, each batch is answered its own part, and every event is stored once', async () => {
    const f = await makeFeature(t.db);
    const now = new Date();
    await ingestEvents(t.db, [ev(f.name)], now); // the catalogue is read and kept: the batches below come at the same instant
    const batches = batchesOf(f.name, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const answers = await Promise.all(batches.map((events) => ingestEvents(t.db, events, now)));
    expect(answers).toEqual(batches.map((events) => ({ accepted: events.length, duplicates: 0, rejected: [] })));
    const ids = batches.flat().map((e) => e.event_id);
    const rows = await t.db('ai_usage_logs').whereIn('event_id', ids).select('event_id');
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    // 3 writers take the first 3 batches alone; the 6 that wait go in one transaction.
    expect(await transactions(f.id)).toBeLessThan(1 + batches.length);
  });

  it('when a group holds an id already stored and an id sent in two of its batches, then each id is stored once, by the first batch that sent it, and the rest of every batch is stored', async () => {
    const f = await makeFeature(t.db);
    const now = new Date();
    const old = ev(f.name);
    await ingestEvents(t.db, [old], now);
    const [a, b, c, x, y, z] = batchesOf(f.name, [2, 2, 2, 5, 3, 4]);
    const batches = [a, b, c, x, [...y, old], [...z, x[0]]];
    const answers = await Promise.all(batches.map((events) => ingestEvents(t.db, events, now)));
    expect(answers.slice(0, 4)).toEqual([a, b, c, x].map((events) => ({ accepted: events.length, duplicates: 0, rejected: [] })));
    expect(answers.slice(4)).toEqual([
      { accepted: 3, duplicates: 1, rejected: [] },
      { accepted: 4, duplicates: 1, rejected: [] },
    ]);
    const ids = [old, ...batches.flat()].map((e) => e.event_id);
    const rows = await t.db('ai_usage_logs').where({ feature_id: f.id }).select('event_id');
    expect(rows.map((r) => r.event_id).sort()).toEqual([...new Set(ids)].sort());
  });

  it('when a row of one batch fails in the database (a constraint validation did not check), then that batch alone fails and the others of its group are stored', async () => {
    const f = await makeFeature(t.db);
    const now = new Date();
    await ingestEvents(t.db, [ev(f.name)], now);
    const poison = `poison-${suffix()}`;
    const constraint = `test_refuses_${suffix().replace(/\W/g, '_')}`;
    await t.db.raw(`ALTER TABLE ai_usage_logs ADD CONSTRAINT ${constraint} CHECK (end_user_id IS DISTINCT FROM '${poison}')`);
    try {
      const [a, b, c, x, y, z] = batchesOf(f.name, [1, 1, 1, 3, 2, 4]);
      const batches = [a, b, c, x, [...y, ev(f.name, { end_user_id: poison })], z];
      const answers = await Promise.allSettled(batches.map((events) => ingestEvents(t.db, events, now)));
      expect(answers.map((r) => (r.status === 'fulfilled' ? r.value.accepted : (r.reason as { code?: string }).code))).toEqual([
        1,
        1,
        1,
        3,
        '23514',
        4,
      ]);
      const ids = [a, b, c, x, z].flat().map((e) => e.event_id);
      const rows = await t
        .db('ai_usage_logs')
        .where({ feature_id: f.id })
        .whereIn(
          'event_id',
          batches.flat().map((e) => e.event_id),
        );
      expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    } finally {
      await t.db.raw(`ALTER TABLE ai_usage_logs DROP CONSTRAINT ${constraint}`);
    }
  });

  it('when the ingest lock is held past the lock timeout, then every batch of the group fails with lock_not_available (answered 503) and nothing of them is stored', async () => {
    const f = await makeFeature(t.db);
    const now = new Date();
    await ingestEvents(t.db, [ev(f.name)], now);
    const holder = await t.db.transaction();
    try {
      await holder.raw('SELECT pg_advisory_xact_lock(?)', [INGEST_LOCK]);
      const batches = batchesOf(f.name, [1, 1, 1, 2, 3, 4]);
      const answers = await Promise.allSettled(batches.map((events) => ingestEvents(t.db, events, now, 200)));
      expect(answers.map((a) => a.status === 'rejected' && (a.reason as { code?: string }).code)).toEqual(batches.map(() => '55P03'));
    } finally {
      await holder.rollback();
    }
    expect(await stored(f.id)).toHaveLength(1);
  });
});

describe('copyData', () => {
  it('when lines outgrow the room made for them (long, multi-byte), then the buffer holds exactly their UTF-8 bytes, in order', () => {
    const lines = ['a\n', `${'€'.repeat(200)}\t${'😀'.repeat(100)}\n`, 'ünï\n', `${'x'.repeat(900)}\n`, ''];
    const data = copyData(lines, (line, i) => `${i}:${line}`);
    expect(data.equals(Buffer.from(lines.map((line, i) => `${i}:${line}`).join('')))).toBe(true);
    expect(copyData([], () => 'never')).toHaveLength(0);
  });

  it('when a batch holds events whose lines are longer than the room made per row, then they are stored exactly', async () => {
    const f = await makeFeature(t.db);
    const events = Array.from({ length: 3 }, (_e, i) =>
      ev(f.name, { event_id: `${i}-${suffix()}-${'€'.repeat(150)}`, end_user_id: '😀'.repeat(100) }),
    );
    expect((await post(events).expect(200)).body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect((await stored(f.id)).map((r) => [r.event_id, r.end_user_id]).sort()).toEqual(
      events.map((e) => [e.event_id, e.end_user_id]).sort(),
    );
  });
});

describe('copiesAndCommit', () => {
  const withConnection = async (use: (connection: PoolClient) => Promise<void>) => {
    const connection = (await t.db.client.acquireConnection()) as PoolClient;
    try {
      await use(connection);
    } finally {
      await connection.query('ROLLBACK');
      await t.db.client.releaseConnection(connection);
    }
  };
  const keyCopy = (id: string) => ({
    sql: 'COPY ai_usage_event_keys (event_id, created_at) FROM STDIN',
    data: Buffer.from(`${id}\t2026-01-01T00:00:00Z\n`),
  });

  it('when the transaction commits, then it resolves and the rows are stored', async () => {
    const id = `k-${suffix()}`;
    await withConnection(async (connection) => {
      await connection.query('BEGIN');
      await copiesAndCommit(connection, [keyCopy(id)]);
    });
    expect(await t.db('ai_usage_event_keys').where({ event_id: id }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('when the transaction failed before (its COMMIT answers ROLLBACK, without an error), then it rejects: the batch is not acknowledged', async () => {
    await withConnection(async (connection) => {
      await connection.query('BEGIN');
      await expect(connection.query('SELECT 1 / 0')).rejects.toThrow('division by zero');
      await expect(copiesAndCommit(connection, [])).rejects.toThrow('The batch was not committed: COMMIT answered ROLLBACK');
    });
  });
});
