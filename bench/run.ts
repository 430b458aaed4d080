import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Db } from '../src/db/knex.ts';
import { findFeature } from '../src/db/queries/features.ts';
import { featureMetrics } from '../src/metrics/feature-metrics.ts';
import { RANGE_NAMES, type RangeName } from '../src/metrics/ranges.ts';
import { rebuildRollups, runRollup } from '../src/metrics/rollup.ts';
import { alertTicks } from './alerts.ts';
import { bareCopies } from './copy-baseline.ts';
import { buildDataset, openScratch, type ScratchDb, storagePerMillion } from './dataset.ts';
import { rawSqlMetrics, referenceJsMetrics } from './designs.ts';
import { adminSession, batches, ingest, ingestToken, pageTimes, pageWeight, serve } from './http.ts';
import { growFeatures, PAGES, showGrown } from './many-features.ts';

/**
 * npm run bench [-- --events N]: builds its own data set in a scratch database (and, past COMPANION_EVENTS,
 * a companion of that size beside it), then measures ingestion over HTTP, rollup refresh, dashboard latency
 * of three designs (the rollups' beside the companion's), page weight and pages with 200 features.
 */
const { values } = parseArgs({
  options: { events: { type: 'string', default: '10000000' }, 'ingest-events': { type: 'string', default: '200000' } },
});
const events = Number(values.events);
const ingestEvents = Number(values['ingest-events']);
if (!Number.isInteger(events) || events < 1000 || !Number.isInteger(ingestEvents) || ingestEvents < 1000) {
  console.error('Usage: npm run bench -- [--events N (≥ 1000, default 10000000)] [--ingest-events N (default 200000)]');
  process.exit(2);
}

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/**
 * A larger run also builds a data set of this many events in a second database on the same server and reads
 * its dashboards in turns with its own: whether the figures stay flat with data is then a ratio measured side
 * by side, as every other target is, not one between runs an hour apart on a shared machine.
 */
const COMPANION_EVENTS = 1_000_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1];
async function time(times: number, fn: () => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return ms;
}

/** A data set of `n` events with its rollups built, logged as it goes; returns how many events. */
async function dataset(target: ScratchDb, n: number, label: string): Promise<number> {
  let t = performance.now();
  const built = await buildDataset(target, n, new Date());
  log(`${label}: ${built} events over 60 days in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  const folded = await rebuildRollups(target.db);
  // VACUUM, not only ANALYZE: after a bulk load autovacuum would otherwise visit every new page of the
  // data set (throttled, for minutes at 30M events) while ingestion, the refresh and the dashboards are
  // measured; production tables are vacuumed as they grow.
  await target.db.raw('VACUUM ANALYZE');
  log(`${label}: rollups built from ${folded} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return built;
}

/**
 * Rounds of ingestion over HTTP and of the bare COPY, the ingested events split between them. (Three rounds of
 * the whole 200k would add 400k raw rows to the last hour, and so to what SQL on raw rows reads for 1h and 24h.)
 */
const INGEST_ROUNDS = 2;
/** Batches of 1,000 sent just before the first round, untimed (see ingestBesideCopy). */
const RECENT_WARMUP_BATCHES = 10;

/**
 * Ingestion over HTTP (batches of 1,000, 6 in flight) against a bare COPY of the same events (SPEC §8), in
 * rounds of each (HTTP then COPY, COPY then HTTP, …), so a slow stretch of the shared machine falls on both.
 * Each rate is its events over its summed seconds. Every timed step starts from a checkpoint, so none pays for
 * writing out what the step before dirtied.
 * Both are warmed up first, untimed, with as many events as a round: `warmup` over HTTP, and a COPY of the first
 * round's events (the first COPY into a buffer pool full from the bulk load ran 5–12% slower than the next ones at
 * 10M events; over 5 rounds in one server process, Node's CPU per 100k events fell from 1.9 s to 1.1–1.3 s). Then
 * `recent` over HTTP, the events just before the first round's, as traffic would have sent them: the newest pages of
 * the usage indexes are in the buffer pool, as they are under steady traffic (with only the older warm-up, the first
 * HTTP round was the slower one in 11 of 12 runs, by up to 37% at 30M events). No scratch
 * copy is dropped before the end (see bareCopies): before, each was dropped after its COPY, and the step after
 * took the freed buffers, which made a COPY that followed another 30–40% faster.
 */
async function ingestBesideCopy(db: Db, base: string, token: string, warmup: string[], recent: string[], rounds: string[][]) {
  const checkpoint = () => db.raw('CHECKPOINT').catch(() => undefined); // see the checkpoint after the data set
  const copies = bareCopies(db);
  await ingest(base, token, warmup, 6);
  await copies.rowsPerSecond(rounds[0]);
  await ingest(base, token, recent, 6);
  const http: { accepted: number; seconds: number; perSecond: number }[] = [];
  const copy: { rows: number; seconds: number; perSecond: number }[] = [];
  for (const [i, bodies] of rounds.entries()) {
    const overHttp = async () => http.push(await ingest(base, token, bodies, 6));
    const bare = async () => copy.push(await copies.rowsPerSecond(bodies));
    for (const step of i % 2 ? [bare, overHttp] : [overHttp, bare]) {
      await checkpoint();
      await step();
    }
  }
  await copies.drop();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const accepted = sum(http.map((h) => h.accepted));
  const httpSeconds = sum(http.map((h) => h.seconds));
  const copySeconds = sum(copy.map((c) => c.seconds));
  return {
    http: { accepted, seconds: httpSeconds, perSecond: accepted / httpSeconds, rounds: http.map((h) => h.perSecond) },
    copy: { perSecond: sum(copy.map((c) => c.rows)) / copySeconds, rounds: copy.map((c) => c.perSecond) },
  };
}

/** The `i`th minute before now of the bench's burst: 60k events (1,000/s), inserted as ingestion stores them. */
async function burstMinute(db: Db, runId: string, i: number) {
  const at = `now() - interval '1 minute' * ${i} - (g % 60000) * interval '1 millisecond'`;
  await db.raw(
    `INSERT INTO ai_usage_event_keys (event_id, created_at)
     SELECT 'minute-' || :run || '-${i}-' || g, ${at} FROM generate_series(1, 60000) g`,
    { run: runId },
  );
  await db.raw(
    `INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status, response_time_ms, input_tokens, output_tokens, cost_usd, input_cost_usd, created_at)
     SELECT 'minute-' || :run || '-${i}-' || g, m.feature_id, m.model_id, m.provider_id, 'production', 'user-' || (1 + floor(50000 * random() * random()))::int,
            CASE WHEN g % 50 = 0 THEN 'error' ELSE 'success' END, 100 + g % 3000, 500, 100, 0.002, 0.001, ${at}
     FROM generate_series(1, 60000) g,
          LATERAL (SELECT a.feature_id, a.model_id, md.provider_id FROM feature_model_assignments a JOIN ai_models md ON md.id = a.model_id
                   WHERE a.is_active ORDER BY a.feature_id, a.environment OFFSET (g % 9) LIMIT 1) m`,
    { run: runId },
  );
}

const scratch = await openScratch();
try {
  const { db } = scratch;
  const built = await dataset(scratch, events, 'data set');
  const companion = events > COMPANION_EVENTS ? await scratch.another() : null;
  if (companion) await dataset(companion, COMPANION_EVENTS, 'companion data set');
  // Write out what the bulk load dirtied, so ingestion is measured in steady state and not against
  // the checkpointer flushing gigabytes of data set (which production ingestion never meets).
  // (Needs superuser or pg_checkpoint on a BENCH_DATABASE_URL server; without them the run goes on.)
  await db.raw('CHECKPOINT').catch((err: Error) => log(`no checkpoint before measuring: ${err.message}`));
  const storage = await storagePerMillion(db, built);
  log(
    `storage per million events: raw ${(storage.raw_bytes_per_million_events / 1e6).toFixed(0)} MB (table, indexes, event keys), rollups ${(storage.rollup_bytes_per_million_events / 1e6).toFixed(1)} MB`,
  );

  const server = await serve(db, scratch.url);
  const token = await ingestToken(db);
  const runId = Date.now().toString(36);
  // Each round's events come after the round before's, the last now (one per millisecond, see batches).
  const perRound = Math.ceil(ingestEvents / 1000 / INGEST_ROUNDS);
  const now = Date.now();
  const rounds = Array.from({ length: INGEST_ROUNDS }, (_r, r) =>
    batches(perRound, 1000, `${runId}r${r}`, new Date(now - (INGEST_ROUNDS - 1 - r) * perRound * 1000)),
  );
  // The warm-up's events are 20 days old: in the 30d range only, where they add ~2% to the raw rows at 10M.
  const warmup = batches(perRound, 1000, `${runId}w`, new Date(now - 20 * 86_400_000));
  // And a few batches just before the first round (see ingestBesideCopy): 2% more raw rows in the last hour.
  const recent = batches(RECENT_WARMUP_BATCHES, 1000, `${runId}n`, new Date(now - INGEST_ROUNDS * perRound * 1000));
  const { http: ingested, copy: copied } = await ingestBesideCopy(db, server.base, token, warmup, recent, rounds);
  const retried = await ingest(server.base, token, rounds[0].slice(0, 5), 2);
  log(
    `ingestion: ${ingested.accepted} events in ${ingested.seconds.toFixed(1)} s = ${Math.round(ingested.perSecond)}/s (rounds ${ingested.rounds.map(Math.round).join(', ')}); retry of 5 batches: ${retried.duplicates} duplicates, ${retried.accepted} accepted`,
  );
  log(
    `bare COPY of the same events into a scratch copy of ai_usage_logs: ${Math.round(copied.perSecond)} rows/s (rounds ${copied.rounds.map(Math.round).join(', ')}); ingestion over HTTP is ${(ingested.perSecond / copied.perSecond).toFixed(2)}× of it`,
  );
  if (companion) {
    // The companion gets the same traffic (untimed), so its ranges hold what the run's own do.
    const other = await serve(companion.db, companion.url);
    await ingest(other.base, await ingestToken(companion.db), [...warmup, ...recent, ...rounds.flat()], 6);
    await other.close();
    await runRollup({ db: companion.db });
  }
  await runRollup({ db });

  // One minute of traffic at 1,000 events/s, then the rollup that folds it in.
  const refresh: number[] = [];
  for (let i = 0; i < 5; i++) {
    await burstMinute(db, runId, i);
    const [ms] = await time(1, () => runRollup({ db }));
    refresh.push(ms);
    if (companion) {
      await burstMinute(companion.db, runId, i);
      await runRollup({ db: companion.db });
    }
  }
  log(`rollup refresh per minute of traffic (60k events): median ${median(refresh).toFixed(1)} ms`);

  // Every range's dashboard, and the companion's beside it, read in turns right after the burst: 100 rounds, in
  // alternating order, so a slow stretch of the shared machine falls on all of them alike (and p95 is the 95th
  // slowest read, not, of 30, the second slowest). Then raw SQL and the reference design, which read for seconds.
  const sides = [db, ...(companion ? [companion.db] : [])];
  const features = await Promise.all(sides.map(async (d) => (await findFeature(d, 'chatbot'))!));
  const reads = new Map(RANGE_NAMES.map((range) => [range, sides.map(() => [] as number[])]));
  const dashboardRead = (side: number, range: RangeName) => featureMetrics(sides[side], features[side], range, new Date(), 'UTC');
  for (const range of RANGE_NAMES) for (const side of sides.keys()) await dashboardRead(side, range);
  for (let round = 0; round < 100; round++) {
    const ranges = round % 2 ? [...RANGE_NAMES].reverse() : RANGE_NAMES;
    const order = round % 2 ? [...sides.keys()].reverse() : [...sides.keys()];
    for (const range of ranges) {
      for (const side of order) reads.get(range)![side].push(...(await time(1, () => dashboardRead(side, range))));
    }
  }
  const feature = features[0];
  const dashboard: Record<string, Record<string, number>> = {};
  for (const range of RANGE_NAMES) {
    const [rollup, beside] = reads.get(range)!;
    const raw = await time(3, () => rawSqlMetrics(db, feature.id, range, new Date(), Number(feature.error_rate_threshold)));
    const reference = await time(range === '30d' ? 1 : 2, () => referenceJsMetrics(db, feature.id, range, new Date()));
    dashboard[range] = {
      rollup_ms_p50: median(rollup),
      rollup_ms_p95: p95(rollup),
      raw_sql_ms_p50: median(raw),
      reference_js_ms_p50: median(reference),
      raw_sql_ratio: median(raw) / median(rollup),
      reference_js_ratio: median(reference) / median(rollup),
      ...(beside && {
        companion_rollup_ms_p50: median(beside),
        companion_rollup_ms_p95: p95(beside),
        to_companion_ratio: median(rollup) / median(beside),
      }),
    };
    log(
      `dashboard ${range}: rollups ${median(rollup).toFixed(1)} ms (p95 ${p95(rollup).toFixed(1)})${beside ? `, ${(median(rollup) / median(beside)).toFixed(2)}× the companion's ${median(beside).toFixed(1)} ms` : ''}, raw SQL ${median(raw).toFixed(0)} ms, reference JS ${median(reference).toFixed(0)} ms`,
    );
  }

  const admin = await adminSession(db, server.base);
  const page = await pageWeight(admin, '/platform/ai-management/features');
  // The fragment htmx asks for when a tab is chosen: the selected feature's panel.
  const partial = await pageWeight(admin, '/platform/ai-management/features?feature=chatbot&tab=overview&range=24h', {
    'HX-Request': 'true',
    'HX-Target': 'section#feature-panel',
  });

  // The same pages with 200 features, each with traffic: their cost must not grow with the count.
  // One page at a time (timed side by side, each page's requests would also wait on the other's), with
  // the added features shown and hidden in turns: 5 rounds × 5 requests of each page in each state.
  const few = await growFeatures(db, 200, 2000, new Date());
  const empty = () => Object.fromEntries(Object.keys(PAGES).map((name) => [name, [] as number[]]));
  const samples = { few: empty(), many: empty() };
  for (let round = 0; round < 5; round++) {
    for (const state of round % 2 ? (['many', 'few'] as const) : (['few', 'many'] as const)) {
      await showGrown(db, state === 'many');
      for (const [name, url] of Object.entries(PAGES)) samples[state][name].push(...(await pageTimes(admin, url, 5)));
    }
  }
  await showGrown(db, true);
  const fewMs = Object.fromEntries(Object.entries(samples.few).map(([name, ms]) => [name, median(ms)]));
  const manyMs = Object.fromEntries(Object.entries(samples.many).map(([name, ms]) => [name, median(ms)]));
  const manyFeatures = Object.fromEntries(
    Object.keys(PAGES).map((name) => [name, { few_ms_p50: fewMs[name], many_ms_p50: manyMs[name], ratio: manyMs[name] / fewMs[name] }]),
  );
  for (const [name, m] of Object.entries(manyFeatures)) {
    log(
      `${name} page: ${m.few_ms_p50.toFixed(1)} ms with ${few} features, ${m.many_ms_p50.toFixed(1)} ms with 200 (${m.ratio.toFixed(2)}×)`,
    );
  }
  await server.close();

  const alerts = await alertTicks(db);
  log(`alerts tick, 200 features: median ${median(alerts).toFixed(1)} ms (${alerts.map((m) => m.toFixed(0)).join(', ')})`);

  const result = {
    events: built,
    companion_events: companion ? COMPANION_EVENTS : null,
    generated_at: new Date().toISOString(),
    machine: {
      cpus: (await import('node:os')).cpus().length,
      node: process.version,
      postgres: (await db.raw('SHOW server_version')).rows[0].server_version,
    },
    ingest_events_per_s: Math.round(ingested.perSecond),
    copy_rows_per_s: Math.round(copied.perSecond),
    ingest_to_copy_ratio: ingested.perSecond / copied.perSecond,
    copy_rows_per_s_rounds: copied.rounds.map(Math.round),
    ingest: {
      events: ingested.accepted,
      seconds: ingested.seconds,
      rounds_events_per_s: ingested.rounds.map(Math.round),
      concurrency: 6,
      batch: 1000,
      retry_duplicates: retried.duplicates,
    },
    rollup_refresh_ms_per_minute: median(refresh),
    rollup_refresh_ms_samples: refresh,
    dashboard,
    storage,
    many_features: { features_before: few, features_after: 200, pages: manyFeatures },
    alerts_tick_ms_200_features: median(alerts),
    page_weight: {
      features_page_gzip_bytes: page.withAssetsGzipBytes,
      features_page_html_gzip_bytes: page.htmlGzipBytes,
      tab_partial_gzip_bytes: partial.isFragment ? partial.htmlGzipBytes : null,
    },
  };
  console.log(
    `\nrange  rollups p50  p95      raw SQL p50   ×raw    reference JS p50   ×JS${companion ? '   companion p50  ×companion' : ''}`,
  );
  for (const [range, d] of Object.entries(dashboard)) {
    const beside = companion
      ? ` ${d.companion_rollup_ms_p50.toFixed(1).padStart(12)} ms ${d.to_companion_ratio.toFixed(2).padStart(10)}`
      : '';
    console.log(
      `${range.padEnd(6)} ${d.rollup_ms_p50.toFixed(1).padStart(8)} ms ${d.rollup_ms_p95.toFixed(1).padStart(6)} ms ${d.raw_sql_ms_p50.toFixed(0).padStart(9)} ms ${d.raw_sql_ratio.toFixed(0).padStart(6)} ${d.reference_js_ms_p50.toFixed(0).padStart(14)} ms ${d.reference_js_ratio.toFixed(0).padStart(6)}${beside}`,
    );
  }
  console.log(
    `\ningestion ${result.ingest_events_per_s} events/s · rollup refresh ${result.rollup_refresh_ms_per_minute.toFixed(1)} ms per minute of traffic · features page ${page.withAssetsGzipBytes} B gzip with assets · tab partial ${result.page_weight.tab_partial_gzip_bytes ?? 'n/a (the tab answered with a whole page)'}`,
  );
  const file = path.join('bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: ${file}`);
} finally {
  await scratch.close();
}
