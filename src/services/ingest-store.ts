import type { PoolClient, QueryResult, Submittable } from 'pg';
import type { Db } from '../db/knex.ts';
import { isUuid } from '../domain.ts';
import { INGEST_LOCK } from '../metrics/rollup.ts';

/**
 * Storing validated batches of usage events (SPEC §7): one transaction, for one batch or a group of
 * them, that claims each event's id in ai_usage_event_keys (a claimed id is a duplicate), prices the
 * new events and writes them to ai_usage_logs, both with COPY (bulk inserts: measured, the batch
 * costs PostgreSQL about 40% less CPU than the INSERT … SELECT it replaces).
 */

/** A valid event resolved against the catalogue: what ai_usage_logs stores, cost still to price unless given. */
export interface EventRow {
  /** Its place in the request's events. */
  index: number;
  event_id: string;
  feature_id: string;
  model_id: string;
  environment: string;
  end_user_id: string | null;
  status: string;
  response_time_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
  created_at: string;
  prompt_version: number | null;
}

export interface Stored {
  accepted: number;
  /** Events the catalogue as it is in the transaction refuses (see `refusal`): not stored, their ids not claimed. */
  rejected: { index: number; error: string }[];
}

const UNIQUE_VIOLATION = '23505';

/**
 * How long a batch waits for a lock (the ingest lock, an id another transaction is writing) before it
 * gives up and is answered 503 (lock_not_available): a session that died holding one must not stop
 * ingestion for good.
 */
export const INGEST_LOCK_TIMEOUT_MS = 5000;

/**
 * Stores the rows whose ids are new and answers only after the commit. At most INGEST_WRITERS
 * transactions write at once; the batches that arrive meanwhile wait and are then written together,
 * in one transaction (a group commit). Measured with 6 batches of 1,000 in flight on 2 cores (10M
 * events, 5 alternated rounds of 100k): PostgreSQL spent 2.5–2.9 s of CPU per 100k events instead of
 * 2.7–3.6 s, and ingestion took 46–48k events/s (median) instead of 43k. Six transactions at once
 * contend for the same index pages (the newest times, the id sequence); one writer alone left a core
 * idle while Node prepared its next group (33k).
 */
export function storeEvents(db: Db, rows: EventRow[], lockTimeoutMs = INGEST_LOCK_TIMEOUT_MS): Promise<Stored> {
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1) throw new Error(`lock timeout must be a whole number of ms: ${lockTimeoutMs}`);
  const queue = queues.get(db) ?? { waiting: [], writing: 0 };
  queues.set(db, queue);
  const stored = new Promise<Stored>((resolve, reject) => queue.waiting.push({ rows, lockTimeoutMs, resolve, reject }));
  if (queue.writing < INGEST_WRITERS) void write(db, queue);
  return stored;
}

/** Transactions writing events at once, per pool (see storeEvents). */
const INGEST_WRITERS = 3;
/** The most events a group commit writes (batches are written together up to it; a larger one alone). */
const MAX_GROUP_EVENTS = 8000;

interface Waiting {
  rows: EventRow[];
  lockTimeoutMs: number;
  resolve: (stored: Stored) => void;
  reject: (err: unknown) => void;
}

interface Queue {
  waiting: Waiting[];
  writing: number;
}

const queues = new WeakMap<Db, Queue>();

/** One writer: takes the waiting batches, as many as fit a group, until none is left. */
async function write(db: Db, queue: Queue) {
  queue.writing++;
  try {
    while (queue.waiting.length) {
      const group = [queue.waiting.shift()!];
      let events = group[0].rows.length;
      for (let next = queue.waiting[0]; next; next = queue.waiting[0]) {
        if (next.lockTimeoutMs !== group[0].lockTimeoutMs || events + next.rows.length > MAX_GROUP_EVENTS) break;
        events += next.rows.length;
        group.push(queue.waiting.shift()!);
      }
      await writeGroup(db, group);
    }
  } finally {
    queue.writing--;
  }
}

/**
 * Writes the group's batches in one transaction, and answers each its part (an id already claimed,
 * or sent in two of its batches, is a duplicate: see storeSorted). When the group fails on its data
 * (a row a constraint refuses), each batch is written on its own, so one batch's events never fail
 * another's. Any other failure (the database away, a lock waited for too long) is every batch's answer.
 */
async function writeGroup(db: Db, group: Waiting[]) {
  try {
    const written = await storeSorted(db, byId(group.flatMap((g) => g.rows)), group[0].lockTimeoutMs);
    const answers = split(
      group.map((g) => g.rows),
      written,
    );
    group.forEach((g, i) => g.resolve(answers[i]));
  } catch (err) {
    if (group.length === 1 || !DATA_ERROR.test(String((err as { code?: unknown }).code))) {
      for (const g of group) g.reject(err);
      return;
    }
    for (const g of group) {
      try {
        g.resolve(split([g.rows], await storeSorted(db, byId(g.rows), g.lockTimeoutMs))[0]);
      } catch (alone) {
        g.reject(alone);
      }
    }
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
const DATA_ERROR = /^2[23]/;

/** Ids go in sorted, so two transactions claiming the same ids wait for each other in one order and never deadlock. */
const byId = (rows: EventRow[]) => [...rows].sort((a, b) => (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));

/** What a transaction wrote: the rows it stored, and those the catalogue as it is in the transaction refuses. */
interface Written {
  fresh: EventRow[];
  refused: { row: EventRow; error: string }[];
}

/** Each batch's part of what its group's transaction wrote. */
function split(batches: EventRow[][], written: Written): Stored[] {
  const batchOf = new Map<EventRow, number>();
  batches.forEach((rows, b) => {
    for (const r of rows) batchOf.set(r, b);
  });
  const stored = batches.map((): Stored => ({ accepted: 0, rejected: [] }));
  for (const r of written.fresh) stored[batchOf.get(r)!].accepted++;
  for (const { row, error } of written.refused) stored[batchOf.get(row)!].rejected.push({ index: row.index, error });
  return stored;
}

/**
 * Retries are rare, so the ids are first copied as if all were new; when one is not (a unique
 * violation), the transaction is undone and the rows claim their ids with ON CONFLICT DO NOTHING,
 * which also waits out a transaction with the same ids that is still being written.
 */
async function storeSorted(db: Db, sorted: EventRow[], lockTimeoutMs: number): Promise<Written> {
  try {
    return await store(db, sorted, lockTimeoutMs, copyKeys);
  } catch (err) {
    if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
    return store(db, sorted, lockTimeoutMs, claimKeys);
  }
}

/**
 * Claims the rows' ids in ai_usage_event_keys: answers the rows whose ids are new, and the COPY that
 * writes their ids when the claim is left to the final message.
 */
type Claim = (connection: PoolClient, rows: EventRow[]) => Promise<{ fresh: EventRow[]; copies: Copy[] }>;

/**
 * The transaction on a connection of the pool, in as few round trips as it takes (the lock and the
 * catalogue check go with the BEGIN): each one is a wait for a busy server. A connection that failed
 * is marked by knex and not given out again.
 */
async function store(db: Db, rows: EventRow[], lockTimeoutMs: number, claim: Claim): Promise<Written> {
  const connection = (await db.client.acquireConnection()) as PoolClient;
  try {
    const live = await beginAndCheck(connection, rows, lockTimeoutMs);
    const refused: Written['refused'] = [];
    const kept = rows.filter((r) => {
      const error = refusal(r, live);
      if (error) refused.push({ row: r, error });
      return !error;
    });
    const { fresh, copies } = kept.length ? await claim(connection, kept) : { fresh: [], copies: [] };
    if (fresh.length) {
      const costs = await priced(connection, fresh, live.models);
      copies.push({ sql: LOGS_COPY, data: copyData(fresh, (r, i) => logLine(r, live.models.get(r.model_id)!.provider_id, costs[i])) });
    }
    await copiesAndCommit(connection, copies);
    return { fresh, refused };
  } catch (err) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

interface LiveModel {
  provider_id: string;
  /** List prices per 1k tokens, in millionths of a dollar (the columns are numeric(12, 6)). */
  input_micros: number;
  output_micros: number;
}

/** Ids from the catalogue, written into the statement (a parameter would cost a round trip of its own). */
const uuidList = (ids: Iterable<string>) =>
  [...new Set(ids)]
    .map((id) => {
      if (!isUuid(id)) throw new Error(`not a uuid: ${id}`);
      return `'${id}'`;
    })
    .join(', ');

/**
 * Begins the transaction, with a limit on every lock wait in it (INGEST_LOCK_TIMEOUT_MS), and takes
 * the ingest lock, shared: many ingests at once; the rollup takes it exclusively to know which ids
 * are final, and deleting a feature, model or provider takes it exclusively to check it has no usage.
 * Then reads the batch's features and models as they are now (under the lock: none can go before the
 * commit).
 */
async function beginAndCheck(connection: PoolClient, rows: EventRow[], lockTimeoutMs: number) {
  const results = (await connection.query(`BEGIN; SET LOCAL lock_timeout = ${lockTimeoutMs};
    SELECT pg_advisory_xact_lock_shared(${INGEST_LOCK});
    SELECT id, provider_id, input_price_per_1k::text AS input_price, output_price_per_1k::text AS output_price
    FROM ai_models WHERE id IN (${uuidList(rows.map((r) => r.model_id))})
    UNION ALL SELECT id, NULL, NULL, NULL FROM ai_features WHERE id IN (${uuidList(rows.map((r) => r.feature_id))})`)) as unknown as QueryResult[];
  const models = new Map<string, LiveModel>();
  const features = new Set<string>();
  for (const f of results[3].rows as { id: string; provider_id: string | null; input_price: string; output_price: string }[]) {
    if (f.provider_id === null) features.add(f.id);
    else models.set(f.id, { provider_id: f.provider_id, input_micros: micros(f.input_price), output_micros: micros(f.output_price) });
  }
  return { models, features };
}

type Live = Awaited<ReturnType<typeof beginAndCheck>>;

/**
 * Why an event cannot be stored though it passed validation: its feature or model was deleted after
 * the catalogue was read, or its cost at the list prices would not fit cost_usd (numeric(14, 8)).
 */
function refusal(r: EventRow, live: Live): string | undefined {
  if (!live.features.has(r.feature_id)) return `unknown feature ${r.feature_id}`;
  const m = live.models.get(r.model_id);
  if (!m) return `unknown model ${r.model_id}`;
  if (r.cost_usd === null && listCost(r.input_tokens, m.input_micros) + listCost(r.output_tokens, m.output_micros) > MAX_COST_UNITS)
    return `cost at the model's list prices exceeds the largest storable cost (${dollars(MAX_COST_UNITS)} USD)`;
}

/** The largest cost_usd, in units of 1e-8 dollars. */
const MAX_COST_UNITS = 1e14 - 1;

const micros = (price: string) => {
  const [whole, fraction = ''] = price.split('.');
  return Number(whole + fraction.padEnd(6, '0'));
};

/**
 * tokens × a price per 1k tokens, rounded half up to 8 decimals, in units of 1e-8 dollars. Exact:
 * tokens × micros counts units of 1e-9 dollars, an integer; any cost cost_usd (numeric(14, 8)) can
 * hold is below 1e15 of them, well within the integers a double holds exactly (the rest overflows
 * the column whatever the rounding).
 */
function listCost(tokens: number, priceMicros: number): number {
  const nanos = tokens * priceMicros + 5;
  return (nanos - (nanos % 10)) / 10;
}

const dollars = (units: number) => {
  const digits = String(units).padStart(9, '0');
  return `${digits.slice(0, -8)}.${digits.slice(-8)}`;
};

interface Cost {
  cost: string;
  input: string;
}

/**
 * Cost from the model's list prices when the event has none. A given cost is split between input and
 * output in proportion to what the list prices would charge (or to the tokens when they charge
 * nothing): PostgreSQL does that division, so it rounds exactly as the numeric columns would.
 */
async function priced(connection: PoolClient, rows: EventRow[], models: Map<string, LiveModel>): Promise<Cost[]> {
  const list = rows.map((r) => {
    const m = models.get(r.model_id)!;
    return { input: listCost(r.input_tokens, m.input_micros), output: listCost(r.output_tokens, m.output_micros) };
  });
  const costs = list.map((l) => ({ cost: dollars(l.input + l.output), input: dollars(l.input) }));
  const given = rows.flatMap((r, i) => (r.cost_usd === null ? [] : [i]));
  if (!given.length) return costs;
  const { rows: split } = await connection.query(
    `SELECT round(g, 8)::text AS cost,
            CASE WHEN li + lo > 0 THEN round(round(g, 8) * li / (li + lo), 8)
                 WHEN ti + t_out > 0 THEN round(round(g, 8) * ti / (ti + t_out), 8)
                 ELSE round(g, 8) END::text AS input
     FROM unnest($1::numeric[], $2::numeric[], $3::numeric[], $4::integer[], $5::integer[]) WITH ORDINALITY AS s(g, li, lo, ti, t_out, n)
     ORDER BY n`,
    [
      given.map((i) => String(rows[i].cost_usd)),
      given.map((i) => dollars(list[i].input)),
      given.map((i) => dollars(list[i].output)),
      given.map((i) => rows[i].input_tokens),
      given.map((i) => rows[i].output_tokens),
    ],
  );
  given.forEach((i, n) => {
    costs[i] = split[n];
  });
  return costs;
}

const copyKeys: Claim = async (_connection, rows) => ({
  fresh: rows,
  copies: [{ sql: KEYS_COPY, data: copyData(rows, (r) => `${copyText(r.event_id)}\t${r.created_at}\n`) }],
});

// Answers the places of the claimed ids in the rows (ids are stored as sent: validation refuses
// ill-formed UTF-16, which PostgreSQL would change). A batch's ids are distinct, but a group's batches
// may share one: its first place claims it, the others are duplicates.
const claimKeys: Claim = async (connection, rows) => {
  await connection.query('SET LOCAL enable_nestloop = off'); // the planner takes the batch for a few rows
  const { rows: claimed } = await connection.query(
    `WITH input AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS e(event_id, created_at, n)),
     claimed AS (INSERT INTO ai_usage_event_keys (event_id, created_at) SELECT event_id, created_at FROM input
                 ON CONFLICT (event_id) DO NOTHING RETURNING event_id)
     SELECT DISTINCT ON (event_id) n::integer AS n FROM input JOIN claimed USING (event_id) ORDER BY event_id, n`,
    [rows.map((r) => r.event_id), rows.map((r) => r.created_at)],
  );
  return { fresh: (claimed as { n: number }[]).map((c) => rows[c.n - 1]), copies: [] };
};

const KEYS_COPY = 'COPY ai_usage_event_keys (event_id, created_at) FROM STDIN';
const LOGS_COPY = `COPY ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status,
  response_time_ms, input_tokens, output_tokens, cost_usd, input_cost_usd, created_at, prompt_version) FROM STDIN`;

export interface Copy {
  sql: string;
  /** The rows in COPY's text format, UTF-8. */
  data: Buffer;
}

/**
 * The rows' lines written one after another into one buffer, as they are made. (Joining a batch's
 * lines into a string first took three times as long: each line is a rope of its fields that the
 * join flattens.) Room is made for the worst case, 3 bytes per UTF-16 unit, before each write.
 */
export function copyData<T>(rows: T[], line: (row: T, index: number) => string): Buffer {
  let buffer = Buffer.allocUnsafe(rows.length * 256);
  let length = 0;
  rows.forEach((row, i) => {
    const text = line(row, i);
    if (length + text.length * 3 > buffer.length) {
      const larger = Buffer.allocUnsafe(Math.max(buffer.length * 2, length + text.length * 3));
      buffer.copy(larger, 0, 0, length);
      buffer = larger;
    }
    length += buffer.write(text, length);
  });
  return buffer.subarray(0, length);
}

/**
 * Sends the COPYs and the COMMIT as one query, with their data at once, without waiting for the
 * server to ask for it: the protocol allows it, and it saves a round trip per COPY. Resolves once the
 * transaction is committed; rejects when a statement fails (the server answers the error, skips the
 * rest of the query and drops the data still to come; the caller then rolls back) or when the
 * transaction ends otherwise: a COMMIT in a transaction that failed earlier answers ROLLBACK, without
 * an error, and a batch must never be acknowledged unless it is committed.
 */
export function copiesAndCommit(connection: PoolClient, copies: Copy[]): Promise<void> {
  const finish = new CopiesAndCommit(copies);
  connection.query(finish as unknown as Submittable);
  return finish.done;
}

/**
 * What pg hands a custom query's submit(): its Connection (pg/lib/connection.js; written against pg
 * 8.23.1, package.json asks for ^8.23.1). Relied on: query(text) sends a simple Query message,
 * sendCopyFromChunk(buffer) a CopyData and endCopyFrom() a CopyDone (what pg-copy-streams uses), and
 * `stream`, its socket, corked so the messages leave in one write. pg's Client then calls the
 * handle* methods of CopiesAndCommit as the server answers (pg/lib/client.js).
 */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { cork(): void; uncork(): void };
}

class CopiesAndCommit {
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  private failed = false;
  /** The command tag of the last statement completed: COMMIT when the transaction committed. */
  private tag = '';
  readonly done = new Promise<void>((resolve, reject) => {
    this.settle = { resolve, reject };
  });

  constructor(private readonly copies: Copy[]) {}

  submit(connection: PgConnection) {
    connection.stream.cork();
    connection.query([...this.copies.map((c) => c.sql), 'COMMIT'].join(';\n'));
    for (const c of this.copies) {
      connection.sendCopyFromChunk(c.data);
      connection.endCopyFrom();
    }
    connection.stream.uncork();
  }

  // Success ends with the COMMIT's CommandComplete, then ReadyForQuery; failure with an error (its
  // ReadyForQuery then goes to no query). The rest is answered by no message these statements send.
  handleError(err: Error) {
    this.failed = true;
    this.settle.reject(err);
  }
  handleCommandComplete(message: { text: string }) {
    this.tag = message.text;
  }
  handleReadyForQuery() {
    if (this.failed) return;
    if (this.tag === 'COMMIT') this.settle.resolve();
    else this.settle.reject(new Error(`The batch was not committed: COMMIT answered ${this.tag || 'nothing'}`));
  }
  handleCopyInResponse() {}
  handleRowDescription() {}
  handleDataRow() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  callback() {}
}

// COPY's text format: backslash, tab, newline and carriage return escaped (validation refuses the other control characters).
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const SPECIAL = /[\\\t\n\r]/;
const copyText = (value: string) => (SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : value);

/** An event as a line of LOGS_COPY (\N for NULL). */
function logLine(r: EventRow, providerId: string, cost: Cost): string {
  const user = r.end_user_id === null ? '\\N' : copyText(r.end_user_id);
  return `${copyText(r.event_id)}\t${r.feature_id}\t${r.model_id}\t${providerId}\t${r.environment}\t${user}\t${r.status}\t${r.response_time_ms}\t${r.input_tokens}\t${r.output_tokens}\t${cost.cost}\t${cost.input}\t${r.created_at}\t${r.prompt_version ?? '\\N'}\n`;
}
