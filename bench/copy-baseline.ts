import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db } from '../src/db/knex.ts';

// The ceiling ingestion is held against (issue 19, SPEC §8): the same events written by a bare
// `COPY … FROM STDIN` into ai_usage_logs, one stream, with every index and partition the table has —
// no validation, no idempotency keys, no pricing. The rows are resolved (ids, list cost) before the
// clock starts, and the COPY is rolled back afterwards, so the data set is left as it was.

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

/** Rows per second of one bare COPY of the bodies' events into ai_usage_logs (rolled back). */
export async function copyRowsPerSecond(db: Db, bodies: string[]): Promise<{ rows: number; seconds: number; perSecond: number }> {
  const lines = await copyLines(db, bodies);
  const client = (await db.client.acquireConnection()) as PoolClient;
  try {
    await client.query('BEGIN');
    const started = performance.now();
    await pipeline(Readable.from(lines), client.query(copyFrom(`COPY ai_usage_logs (${COLUMNS.join(', ')}) FROM STDIN`)));
    const seconds = (performance.now() - started) / 1000;
    await client.query('ROLLBACK');
    return { rows: lines.length, seconds, perSecond: lines.length / seconds };
  } finally {
    await db.client.releaseConnection(client);
  }
}
