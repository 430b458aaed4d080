import crypto from 'node:crypto';
import { type RequestHandler, Router } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/knex.ts';

// The console's own health for an operator's Prometheus (issue 19, SPEC §10.6): ingestion, rollup
// lag, jobs, the database pool and HTTP latency by route. One registry per app (tests build many);
// figures that live in the database (rollup lag) are read when scraped, never kept in memory.

/** What the app, its routes and its jobs record into. */
export interface Telemetry {
  registry: Registry;
  /** Events per outcome, counted by POST /api/v1/usage. */
  ingestEvents: Counter<'outcome'>;
  /** A job tick's duration; `outcome` ok or failed. */
  jobRuns: Histogram<'job' | 'outcome'>;
  http: Histogram<'method' | 'route' | 'status'>;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createTelemetry(db: Db): Telemetry {
  const registry = new Registry();
  const registers = [registry];
  const pool = () => db.client.pool as { numUsed(): number; numFree(): number; numPendingAcquires(): number } | undefined;
  new Gauge({
    name: 'switchboard_rollup_lag_seconds',
    help: 'Seconds since the rollup cursor last moved while raw usage rows wait to be folded (0 when none wait)',
    registers,
    async collect() {
      const { rows } = await db.raw(
        `SELECT CASE WHEN (SELECT coalesce(max(id), 0) FROM ai_usage_logs) > c.last_id
                     THEN extract(epoch FROM now() - c.updated_at) ELSE 0 END AS lag
         FROM rollup_cursors c WHERE c.name = 'usage'`,
      );
      this.set(Number(rows[0]?.lag ?? 0));
    },
  });
  new Gauge({
    name: 'switchboard_db_pool_connections',
    help: 'Connections of the database pool, by state (used, free, pending acquires)',
    labelNames: ['state'],
    registers,
    collect() {
      const p = pool();
      if (!p) return;
      this.set({ state: 'used' }, p.numUsed());
      this.set({ state: 'free' }, p.numFree());
      this.set({ state: 'pending' }, p.numPendingAcquires());
    },
  });
  return {
    registry,
    ingestEvents: new Counter({
      name: 'switchboard_ingest_events_total',
      help: 'Usage events received through POST /api/v1/usage, by outcome (accepted, duplicate, rejected)',
      labelNames: ['outcome'],
      registers,
    }),
    jobRuns: new Histogram({
      name: 'switchboard_job_duration_seconds',
      help: 'Duration of a job tick, by job and outcome (ok, failed)',
      labelNames: ['job', 'outcome'],
      buckets: SECONDS,
      registers,
    }),
    http: new Histogram({
      name: 'switchboard_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status class',
      labelNames: ['method', 'route', 'status'],
      buckets: SECONDS,
      registers,
    }),
  };
}

/** The server process's own figures (CPU, memory, event loop, GC): once per process, not per test app. */
export const collectProcessMetrics = (t: Telemetry) => collectDefaultMetrics({ register: t.registry });

/**
 * Times every request under its route pattern (`/features/:slug`), never its concrete URL, so the
 * series stay few; requests no route matched share the label `unmatched`.
 */
export function httpTiming(t: Telemetry): RequestHandler {
  return (req, res, next) => {
    const end = t.http.startTimer();
    res.once('finish', () => {
      const route = req.route?.path === undefined ? 'unmatched' : `${req.baseUrl}${String(req.route.path)}`;
      end({ method: req.method, route, status: `${Math.floor(res.statusCode / 100)}xx` });
    });
    next();
  };
}

const sameToken = (given: string, expected: string) => {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
};

/**
 * GET /metrics in the Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` only:
 * 401 without it, 404 while no token is configured (the endpoint is off).
 */
export function metricsRoute(t: Telemetry, token: string | undefined): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    if (!token) {
      res.status(404).type('text/plain').send('Metrics are off: set METRICS_TOKEN to turn them on.\n');
      return;
    }
    const given = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!given || !sameToken(given, token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('A valid metrics token is needed.\n');
      return;
    }
    res.type(t.registry.contentType).send(await t.registry.metrics());
  });
  return router;
}
