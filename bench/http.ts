import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import * as cheerio from 'cheerio';
import { type App, createApp } from '../src/app.ts';
import type { Db } from '../src/db/knex.ts';
import { createLogger } from '../src/logger.ts';
import { createApiKey } from '../src/services/api-keys.ts';
import { createUser } from '../src/services/users.ts';

const SYSTEM = { kind: 'system', label: 'bench' } as const;

/** The real app on a loopback port, as the product and a browser would reach it. */
export async function serve(db: Db, url: string): Promise<{ base: string; app: App; close(): Promise<void> }> {
  const app = createApp({
    db,
    logger: createLogger('warn'),
    config: {
      databaseUrl: url,
      sessionSecret: 'bench-session-secret-0123456789-abcdefghij',
      secretsKey: Buffer.alloc(32, 1),
      logLevel: 'warn',
      tzDisplay: 'UTC',
      trustProxy: false,
      cacheTemplates: true,
      sessionIdleMs: 3_600_000,
      sessionAbsoluteMs: 3_600_000,
      providerTimeoutMs: 10_000,
    },
  });
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    app,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await app.close();
    },
  };
}

export async function ingestToken(db: Db): Promise<string> {
  return (await createApiKey(db, SYSTEM, { name: `bench ${Date.now()}`, scope: 'ingest' })).token;
}

const MODELS = [
  ['chatbot', 'claude-3-5-sonnet-20241022'],
  ['chatbot', 'gpt-4o-mini'],
  ['ai-search', 'text-embedding-3-small'],
  ['photo-tagging', 'gpt-4o'],
] as const;

/**
 * Request bodies of `size` events each, made before the clock starts: one event per millisecond, in time order
 * (within a batch and from one batch to the next), the last at `end`, as traffic arrives. (They were one batch
 * per second going back from now, each batch's events going back too, and two rounds made at the same instant
 * had the same times: the second round's index entries went into the pages the first round had just split, and
 * it ran 6–62% faster than the first in all 9 runs, where the COPY, into empty scratch copies, did not.)
 */
export function batches(count: number, size: number, runId: string, end: Date): string[] {
  const first = end.getTime() - (count * size - 1);
  return Array.from({ length: count }, (_b, b) =>
    JSON.stringify({
      events: Array.from({ length: size }, (_e, i) => {
        const [feature, model] = MODELS[(b + i) % MODELS.length];
        const ok = (b * size + i) % 97 !== 0;
        return {
          event_id: `bench-${runId}-${b}-${i}`,
          feature,
          model,
          environment: 'production',
          end_user_id: `user-${(b * 7919 + i * 104729) % 50000}`,
          status: ok ? 'success' : 'error',
          response_time_ms: 200 + ((b * 31 + i * 17) % 2500),
          input_tokens: 400 + (i % 300),
          output_tokens: ok ? 120 + (i % 200) : 0,
          created_at: new Date(first + b * size + i).toISOString(),
        };
      }),
    }),
  );
}

/**
 * Sends the bodies with `concurrency` requests in flight, each on a kept-alive connection of its own;
 * events accepted per second of wall time. The client shares the machine's cores with the server it
 * measures, so it is kept lean, as the COPY baseline's is: the bodies are encoded before the clock
 * starts and sent by node:http (fetch re-encoded and measured each string body on every request: a
 * quarter of the process's CPU during ingestion).
 */
export async function ingest(base: string, token: string, bodies: string[], concurrency: number) {
  const encoded = bodies.map((body) => Buffer.from(body));
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const { hostname, port } = new URL(base);
  const post = (body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          agent,
          hostname,
          port,
          method: 'POST',
          path: '/api/v1/usage',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < encoded.length) {
          const res = await post(encoded[next++]);
          if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${res.text}`);
          const result = JSON.parse(res.text) as { accepted: number; duplicates: number };
          accepted += result.accepted;
          duplicates += result.duplicates;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  return { accepted, duplicates, seconds, perSecond: accepted / seconds };
}

interface Got {
  status: number;
  gzipBytes: number;
  text: string;
  cookies: string[];
}

/** A signed-in admin's GET over plain HTTP (gzip accepted, nothing decoded before it is counted). */
export type AdminGet = (url: string, headers?: Record<string, string>) => Promise<Got>;

/** Signs a new admin in through the login form; answers their GET. */
export async function adminSession(db: Db, base: string): Promise<AdminGet> {
  const email = `bench-${Date.now()}@example.test`;
  await createUser(db, SYSTEM, { email, password: 'bench-password-123', role: 'admin' });
  const jar: string[] = [];
  const get: AdminGet = (url, extra = {}) =>
    new Promise((resolve, reject) => {
      http
        .get(`${base}${url}`, { headers: { 'Accept-Encoding': 'gzip', Cookie: jar.join('; '), ...extra } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            const text = res.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw).toString() : raw.toString();
            resolve({
              status: res.statusCode ?? 0,
              gzipBytes: raw.length,
              text,
              cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]),
            });
          });
        })
        .on('error', reject);
    });
  const login = await get('/login');
  jar.push(...login.cookies);
  const csrf = cheerio.load(login.text)('input[name="_csrf"]').val() as string;
  const signedIn = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: jar.join('; ') },
    body: new URLSearchParams({ email, password: 'bench-password-123', _csrf: csrf }),
  });
  jar.length = 0;
  jar.push(...signedIn.headers.getSetCookie().map((c) => c.split(';')[0]));
  return get;
}

/** Gzip bytes of a page and of every script and stylesheet it loads. */
export async function pageWeight(get: AdminGet, path: string, headers: Record<string, string> = {}) {
  const page = await get(path, headers);
  const $ = cheerio.load(page.text);
  const assets = [
    ...$('script[src]')
      .map((_i, e) => $(e).attr('src'))
      .get(),
    ...$('link[rel="stylesheet"]')
      .map((_i, e) => $(e).attr('href'))
      .get(),
  ];
  const assetBytes = (await Promise.all(assets.map((a) => get(a)))).reduce((sum, a) => sum + a.gzipBytes, 0);
  return {
    status: page.status,
    htmlGzipBytes: page.gzipBytes,
    withAssetsGzipBytes: page.gzipBytes + assetBytes,
    isFragment: !/<html/i.test(page.text),
  };
}

/** Milliseconds each of `times` GETs of a page took (after one warm-up); throws unless it answers 200. */
export async function pageTimes(get: AdminGet, path: string, times: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i <= times; i++) {
    const started = performance.now();
    const page = await get(path);
    if (page.status !== 200) throw new Error(`${path} answered ${page.status}`);
    if (i) ms.push(performance.now() - started);
  }
  return ms;
}
