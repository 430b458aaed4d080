import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db } from '../src/db/knex.ts';

// The ceiling ingestion is held against (issue 19, SPEC §8): the same events written by a bare
// `COPY … FROM STDIN` into a scratch copy of ai_usage_logs — same columns, defaults (the same id
// sequence), checks, indexes and partitions, made just before — one stream, sent
// in 64 KiB chunks as a COPY client (psql's \copy, libpq) sends them; no validation, no idempotency
// keys, no pricing. The rows are resolved (ids, list cost) before the clock starts. The live table is
// left untouched: a rolled-back COPY into it would leave dead rows that later raw-SQL figures scan.
const COLUMNS = [
  'event_id',
  'feature_id',
  'model_id',
  'provider_id',
  'environment',
  'end_user_id',
  'status',
  'response_time_ms',
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'input_cost_usd',
  'created_at',
] as const;

interface BenchEvent {
  event_id: string;
  feature: string;
  model: string;
  environment: string;
  end_user_id: string;
  status: string;
  response_time_ms: number;
  input_tokens: number;
  output_tokens: number;
  created_at: string;
}

/** The bodies' events as ai_usage_logs rows, in COPY text format. */
async function copyLines(db: Db, bodies: string[]): Promise<string[]> {
  const features = new Map((await db('ai_features').select('id', 'name')).map((f) => [f.name, f.id]));
  const models = new Map(
    (await db('ai_models').select('id', 'name', 'provider_id', 'input_price_per_1k', 'output_price_per_1k')).map((m) => [m.name, m]),
  );
  return bodies.flatMap((body) =>
    (JSON.parse(body).events as BenchEvent[]).map((e) => {
      const m = models.get(e.model)!;
      const input = (e.input_tokens * Number(m.input_price_per_1k)) / 1000;
      const output = (e.output_tokens * Number(m.output_price_per_1k)) / 1000;
      const row = [
        `copy-${e.event_id}`,
        features.get(e.feature),
        m.id,
        m.provider_id,
        e.environment,
        e.end_user_id,
        e.status,
        e.response_time_ms,
        e.input_tokens,
        e.output_tokens,
        (input + output).toFixed(8),
        input.toFixed(8),
        e.created_at,
      ];
      return `${row.join('\t')}\n`;
    }),
  );
}

/** The lines joined into chunks of about 64 KiB. */
function* chunks(lines: string[]): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** An empty table made like ai_usage_logs, with a partition for each of its partitions (a crashed run's left over is dropped first). */
async function createScratchCopy(db: Db, name: string): Promise<void> {
  await db.raw(`DROP TABLE IF EXISTS ${name}`); // its partitions go with it
  await db.raw(`CREATE TABLE ${name} (LIKE ai_usage_logs INCLUDING ALL) PARTITION BY RANGE (created_at)`);
  const { rows } = await db.raw(`
    SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'ai_usage_logs'::regclass`);
  for (const [n, { bound }] of (rows as { bound: string }[]).entries())
    await db.raw(`CREATE TABLE ${name}_p${n} PARTITION OF ${name} ${bound}`);
}

/**
 * Bare COPYs, each into a scratch copy of its own, all kept until `drop()`. Dropping one would free its
 * buffers, and the next step to need new pages would take them from PostgreSQL's free list, where ingestion
 * into a full buffer pool (as in production) evicts a page for each: measured at 10M events, a COPY of 100k
 * right after another's scratch copy was dropped ran at 110–114k rows/s, with none dropped at 76–87k.
 */
export function bareCopies(db: Db) {
  const made: string[] = [];
  return {
    /** Rows per second of one bare COPY of the bodies' events into a new scratch copy of ai_usage_logs. */
    async rowsPerSecond(bodies: string[]): Promise<{ rows: number; seconds: number; perSecond: number }> {
      const lines = await copyLines(db, bodies);
      const name = `bench_usage_copy_${made.length}`;
      await createScratchCopy(db, name);
      made.push(name);
      const client = (await db.client.acquireConnection()) as PoolClient;
      try {
        const started = performance.now();
        await pipeline(Readable.from(chunks(lines)), client.query(copyFrom(`COPY ${name} (${COLUMNS.join(', ')}) FROM STDIN`)));
        const seconds = (performance.now() - started) / 1000;
        return { rows: lines.length, seconds, perSecond: lines.length / seconds };
      } finally {
        await db.client.releaseConnection(client);
      }
    },
    async drop(): Promise<void> {
      for (const name of made.splice(0)) await db.raw(`DROP TABLE ${name}`);
    },
  };
}
