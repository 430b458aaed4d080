import { describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/knex.ts';
import { BOUNDS } from '../../src/metrics/histogram.ts';
import { INGEST_LOCK, planFold, rebuildRollups, runRollup } from '../../src/metrics/rollup.ts';
import { foldRowsSql } from '../../src/metrics/rollup-sql.ts';
import { GRAINS_MS, hashesSql, hashSql } from '../../src/metrics/user-sketch.ts';
import { ingestEvents } from '../../src/services/ingest.ts';
import { makeFeature } from '../setup/factories.ts';
import { DAY, HOUR, insertUsage, int, MINUTE, modelsByName, mulberry32, pick, withUsageDatabase } from '../setup/usage-factory.ts';
import { DATASETS, generateEvents } from './datasets.ts';
import { canonicalSketch, storedSketches } from './sketches.ts';

const KEYS = {
  usage_rollup_minute: 'bucket, feature_id, model_id, provider_id, environment, prompt_version',
  usage_rollup_hour: 'bucket, feature_id, model_id, provider_id, environment, prompt_version',
  usage_rollup_day: 'bucket, feature_id, model_id, provider_id, environment, prompt_version',
  usage_spend_month: 'bucket, feature_id, model_id, provider_id, environment',
  usage_minute_counts: 'scope, scope_id, hour',
  usage_user_sketches: 'feature_id, grain_ms, bucket',
};

/** Every row of every rollup table, in key order. */
async function snapshot(db: Db) {
  const out: Record<string, unknown[]> = {};
  for (const [table, keys] of Object.entries(KEYS)) out[table] = (await db.raw(`SELECT * FROM ${table} ORDER BY ${keys}`)).rows;
  return out;
}

const histBucket = (ms: number) => {
  let i = 0;
  while (i + 1 < BOUNDS.length && ms >= BOUNDS[i + 1]) i++;
  return i;
};

/** The rollup tables as they must be: every raw row up to the cursor grouped in JS, exactly once. */
async function expectRollupsMatchRaw(db: Db) {
  const { last_id: cursor } = (await db('rollup_cursors').where({ name: 'usage' }).first('last_id'))!;
  const rows = (
    await db.raw(
      `SELECT *, (cost_usd * 100000000)::bigint AS c, (input_cost_usd * 100000000)::bigint AS ic FROM ai_usage_logs WHERE id <= ?`,
      [cursor],
    )
  ).rows;
  for (const [table, unit] of [
    ['usage_rollup_minute', MINUTE],
    ['usage_rollup_hour', HOUR],
    ['usage_rollup_day', DAY],
  ] as const) {
    const want = new Map<string, Record<string, number>>();
    for (const r of rows) {
      const key = [
        Math.floor(r.created_at.getTime() / unit) * unit,
        r.feature_id,
        r.model_id,
        r.provider_id,
        r.environment,
        r.prompt_version ?? 0,
      ].join('|');
      const g = want.get(key) ?? {
        requests: 0,
        successes: 0,
        errors: 0,
        timeouts: 0,
        latency_sum_ms: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost: 0,
        input_cost: 0,
        ...Object.fromEntries(BOUNDS.map((_b, i) => [`lat_${String(i).padStart(2, '0')}`, 0])),
      };
      g.requests += 1;
      g[{ success: 'successes', error: 'errors', timeout: 'timeouts' }[r.status as string]!] += 1;
      g.latency_sum_ms += r.response_time_ms;
      g[`lat_${String(histBucket(r.response_time_ms)).padStart(2, '0')}`] += 1;
      g.input_tokens += r.input_tokens;
      g.output_tokens += r.output_tokens;
      g.cost += r.c;
      g.input_cost += r.ic;
      want.set(key, g);
    }
    const got = (
      await db.raw(`SELECT *, (cost_usd * 100000000)::bigint AS cost, (input_cost_usd * 100000000)::bigint AS input_cost FROM ${table}`)
    ).rows;
    const have = new Map(
      got.map((r: Record<string, unknown>) => [
        [(r.bucket as Date).getTime(), r.feature_id, r.model_id, r.provider_id, r.environment, r.prompt_version].join('|'),
        r,
      ]),
    );
    expect([...have.keys()].sort(), table).toEqual([...want.keys()].sort());
    for (const [key, g] of want) expect(have.get(key), `${table} ${key}`).toMatchObject(g);
  }
  const months = new Map<string, number>();
  for (const r of rows) {
    const month = Date.UTC(r.created_at.getUTCFullYear(), r.created_at.getUTCMonth(), 1);
    const key = [month, r.feature_id, r.model_id, r.provider_id, r.environment].join('|');
    months.set(key, (months.get(key) ?? 0) + Number(r.c));
  }
  const gotMonths = (await db.raw('SELECT *, (cost_usd * 100000000)::bigint AS cost FROM usage_spend_month')).rows.map(
    (r: Record<string, unknown>) => [
      [(r.bucket as Date).getTime(), r.feature_id, r.model_id, r.provider_id, r.environment].join('|'),
      Number(r.cost),
    ],
  );
  expect(new Map(gotMonths), 'usage_spend_month').toEqual(months);
  const counts = new Map<string, { requests: number[]; failures: number[] }>();
  for (const r of rows) {
    for (const [scope, id] of [
      ['feature', r.feature_id],
      ['model', r.model_id],
      ['provider', r.provider_id],
    ]) {
      const hour = Math.floor(r.created_at.getTime() / HOUR) * HOUR;
      const key = `${scope}|${id}|${hour}`;
      const c = counts.get(key) ?? { requests: new Array(60).fill(0), failures: new Array(60).fill(0) };
      const m = Math.floor((r.created_at.getTime() - hour) / MINUTE);
      c.requests[m] += 1;
      if (r.status !== 'success') c.failures[m] += 1;
      counts.set(key, c);
    }
  }
  const gotCounts = (await db('usage_minute_counts').select('*')).map((r) => [
    `${r.scope}|${r.scope_id}|${r.hour.getTime()}`,
    { requests: r.requests, failures: r.failures },
  ]);
  expect(Object.fromEntries(gotCounts)).toEqual(Object.fromEntries(counts));
  // Each hour's bounds are those of its minutes' final counts: exact (numeric) Wilson bounds, sorted.
  const { rows: wrongBounds } = await db.raw(`
    SELECT c.scope, c.scope_id, c.hour FROM usage_minute_counts c,
      LATERAL (SELECT coalesce(array_agg(b ORDER BY b), '{}') AS bps, coalesce(max(b), 0) AS worst
               FROM (SELECT wilson_lower_bp(r, f) AS b FROM unnest(c.requests, c.failures) u(r, f) WHERE r > 0) x) w
    WHERE c.minute_bps IS DISTINCT FROM w.bps OR c.worst_bp IS DISTINCT FROM w.worst`);
  expect(wrongBounds).toEqual([]);
  // Every sketch holds exactly the users of its bucket's raw rows (their hashes computed here in SQL).
  const want: Record<string, string> = {};
  for (const grain of GRAINS_MS) {
    const { rows: sketches } = await db.raw(
      `SELECT feature_id, floor(extract(epoch FROM created_at) * 1000 / :grain) * :grain AS t, ${hashesSql('h')} AS hashes
       FROM (SELECT *, ${hashSql('l')} AS h FROM ai_usage_logs l WHERE id <= :cursor) x GROUP BY 1, 2 HAVING count(h) > 0`,
      { grain, cursor },
    );
    for (const r of sketches) want[`${r.feature_id}|${grain}|${Number(r.t)}`] = canonicalSketch(r.hashes);
  }
  expect(Object.keys(want).length).toBeGreaterThan(GRAINS_MS.length);
  expect(await storedSketches(db)).toEqual(want);
  return Number(cursor);
}

async function seed(db: Db, seedNo: number, count: number) {
  const spec = DATASETS[0];
  const models = await modelsByName(db);
  const feature = await makeFeature(db);
  const rng = mulberry32(seedNo);
  const events = generateEvents(
    rng,
    spec,
    feature.id,
    spec.models.map((n) => models.get(n)!),
    Date.parse(spec.now),
    count,
  );
  await insertUsage(db, events);
  return { feature, models, rng, events };
}

describe('the rollup job', () => {
  it('when run twice in a row, then the second run folds nothing and changes no rollup row', async () => {
    await withUsageDatabase(async (db) => {
      await seed(db, 11, 300);
      const first = await runRollup({ db });
      expect(first).toMatchObject({ ran: true, rows: 300 });
      const before = await snapshot(db);
      expect(await runRollup({ db })).toEqual({ ran: true, rows: 0, cursor: first.cursor });
      expect(await snapshot(db)).toEqual(before);
      expect(await expectRollupsMatchRaw(db)).toBe(first.cursor);
    });
  });

  it('when the planner would sort the raw rows to group them, then the rollup job groups them by hashing', async () => {
    await withUsageDatabase(async (db) => {
      await seed(db, 15, 300);
      await db.raw('ANALYZE ai_usage_logs');
      /** How the fold statement groups the raw rows (the `grouped` step), as the transaction's settings plan it. */
      const grouping = async (trx: Db) => {
        const { rows } = await trx.raw(`EXPLAIN (FORMAT JSON) ${foldRowsSql('l.id > :from AND l.id <= :to')}`, { from: 0, to: 1e9 });
        const find = (node: { 'Subplan Name'?: string; Strategy?: string; Plans?: unknown[] }): string | undefined =>
          node['Subplan Name'] === 'CTE grouped' ? node.Strategy : node.Plans?.map((n) => find(n as typeof node)).find(Boolean);
        return find(rows[0]['QUERY PLAN'][0].Plan);
      };
      await db.transaction(async (trx) => {
        // A small work_mem makes the planner expect the groups' state not to fit, as a minute of real traffic does.
        await trx.raw("SET LOCAL work_mem = '64kB'");
        expect(await grouping(trx)).toBe('Sorted');
        await planFold(trx);
        expect(await grouping(trx)).toBe('Hashed');
      });
    });
  });

  it('when the job runs again on a connection, then its fold statement is planned once there (a generic plan), not every tick', async () => {
    await withUsageDatabase(async (db, url) => {
      const one = createDb(url, 1);
      try {
        const { events } = await seed(db, 16, 120);
        await runRollup({ db: one });
        await insertUsage(
          db,
          events.slice(0, 30).map((e) => ({ ...e, event_id: undefined })),
        );
        expect(await runRollup({ db: one })).toMatchObject({ ran: true, rows: 30 });
        const { rows } = await one.raw(
          `SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO usage_rollup_minute%'`,
        );
        expect(rows).toEqual([{ generic_plans: 2, custom_plans: 0 }]);
        await expectRollupsMatchRaw(db);
      } finally {
        await one.destroy();
      }
    });
  });

  it('when two instances run the rollup at the same moment, then every row is folded exactly once', async () => {
    await withUsageDatabase(async (db, url) => {
      const [a, b] = [createDb(url, 3), createDb(url, 3)];
      try {
        const { feature, models, rng, events } = await seed(db, 12, 200);
        for (let round = 0; round < 4; round++) {
          const runs = await Promise.all([runRollup({ db: a }), runRollup({ db: b })]);
          expect(
            runs.reduce((n, r) => n + r.rows, 0),
            `round ${round}`,
          ).toBe(round === 0 ? 200 : 40);
          await expectRollupsMatchRaw(db);
          // More traffic between rounds, some of it late, some in minutes already rolled up.
          await insertUsage(
            db,
            events
              .slice(round * 40, round * 40 + 40)
              .map((e) => ({ ...e, event_id: undefined, model: pick(rng, [...models.values()]), feature_id: feature.id })),
          );
        }
      } finally {
        await Promise.all([a.destroy(), b.destroy()]);
      }
    });
  });

  it('when an ingest transaction has inserted but not committed, then the rollup waits for it and folds its rows, skipping none', async () => {
    await withUsageDatabase(async (db, url) => {
      const [ingest, roll] = [createDb(url, 1), createDb(url, 2)];
      try {
        const { events } = await seed(db, 17, 40);
        await runRollup({ db });
        let commit!: () => void;
        const committed = new Promise<void>((resolve) => (commit = resolve));
        let inserted!: () => void;
        const open = new Promise<void>((resolve) => (inserted = resolve));
        // An ingest transaction as storeEvents holds it: INGEST_LOCK shared while its rows are in, uncommitted.
        const ingesting = ingest.transaction(async (trx) => {
          await trx.raw('SELECT pg_advisory_xact_lock_shared(?)', [INGEST_LOCK]);
          await insertUsage(
            trx,
            events.slice(0, 5).map((e) => ({ ...e, event_id: undefined })),
          );
          inserted();
          await committed;
        });
        await open;
        // A later row, committed at once: its id is above the open transaction's.
        await insertUsage(
          db,
          events.slice(5, 6).map((e) => ({ ...e, event_id: undefined })),
        );
        const run = runRollup({ db: roll });
        // The rollup's watermark waits on INGEST_LOCK (seen as a lock wait), not past the open rows.
        await expect
          .poll(async () => (await db.raw(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows[0].n)
          .toBe(1);
        commit();
        await ingesting;
        expect(await run).toMatchObject({ ran: true, rows: 6 });
        expect(await expectRollupsMatchRaw(db)).toBe(Number((await db('ai_usage_logs').max({ m: 'id' }))[0].m));
      } finally {
        await Promise.all([ingest.destroy(), roll.destroy()]);
      }
    });
  });

  it('when ingestion and two rollup loops run concurrently, then in the end the rollups hold every accepted event exactly once', async () => {
    await withUsageDatabase(async (db, url) => {
      const [a, b, c] = [createDb(url, 3), createDb(url, 3), createDb(url, 6)];
      try {
        const feature = await makeFeature(db);
        const rng = mulberry32(13);
        const now = new Date();
        const batches = Array.from({ length: 8 }, (_, k) =>
          Array.from({ length: 100 }, (_, i) => ({
            event_id: `c-${k}-${i}`,
            feature: feature.id,
            model: pick(rng, ['gpt-4o-mini', 'gpt-4.1', 'claude-3-5-haiku-20241022']),
            status: pick(rng, ['success', 'success', 'error', 'timeout']),
            response_time_ms: int(rng, 0, 9000),
            end_user_id: `u${int(rng, 1, 30)}`,
            input_tokens: int(rng, 0, 900),
            output_tokens: int(rng, 0, 300),
            created_at: new Date(now.getTime() - int(rng, 0, 3 * HOUR)).toISOString(),
          })),
        );
        const loop = async (db2: Db) => {
          for (let i = 0; i < 10; i++) await runRollup({ db: db2 });
        };
        const [results] = await Promise.all([Promise.all(batches.map((batch) => ingestEvents(c, batch, now))), loop(a), loop(b)]);
        expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(800);
        await runRollup({ db });
        const cursor = await expectRollupsMatchRaw(db);
        expect(cursor).toBe(Number((await db('ai_usage_logs').max({ m: 'id' }))[0].m));
        expect(await db('usage_rollup_hour').sum({ n: 'requests' })).toEqual([{ n: 800 }]);
      } finally {
        await Promise.all([a.destroy(), b.destroy(), c.destroy()]);
      }
    });
  });

  it('when the rollups are rebuilt, whole or for a time range, then they come back identical, late events included', async () => {
    await withUsageDatabase(async (db) => {
      const { events } = await seed(db, 14, 300);
      await runRollup({ db });
      // Late events, some sharing minutes already rolled up, then a second run.
      await insertUsage(
        db,
        events
          .slice(0, 60)
          .map((e) => ({ ...e, event_id: undefined, created_at: new Date(e.created_at.getTime() - (e.created_at.getTime() % MINUTE)) })),
      );
      await runRollup({ db });
      const before = await snapshot(db);
      await expectRollupsMatchRaw(db);
      const now = Date.parse(DATASETS[0].now);
      await rebuildRollups(db, { from: new Date(now - 3 * DAY - 17 * MINUTE), to: new Date(now - DAY + 5 * MINUTE) });
      expect(await snapshot(db)).toEqual(before);
      expect(await rebuildRollups(db)).toBe(360);
      expect(await snapshot(db)).toEqual(before);
    });
  });
});
