import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { refusalOf } from '../http/errors.ts';
import type { SendRequest } from '../providers/adapter.ts';
import type { Providers } from '../providers/index.ts';
import { isArchived } from './archive.ts';
import { loadModel, openAdapter } from './deployments.ts';
import { type CallOutcome, callModel, pricesOf, requestOf } from './playground.ts';
import { describeAssertion, evaluate, repeatsPass } from './test-assertions.ts';
import { callEstimate, type TestAttempt, type TestCaseSnapshot, type TestRunRow } from './test-runs.ts';

// The worker of suite runs (issue 16): a run is claimed by lease (FOR UPDATE SKIP LOCKED, so several
// instances never work the same run), its pending cases are sent CONCURRENCY at a time (each call
// bounded by the provider timeout), and each case's result is written in its own transaction with the
// run's counts, only while the lease is still ours: a crash or a restart loses at most the cases in
// flight, and a run whose lease lapsed is claimed again and resumes where it stopped.

/** How long a claim holds without news from its worker (renewed before every call, longer than any call). */
export const LEASE_MS = 60_000;
/** A run whose worker stopped more often than this (crashes, restarts) is failed rather than tried again. */
const MAX_RESUMED = 3;
/** Calls in flight at once, per run. */
export const CONCURRENCY = 4;

export const leaseFrom = (at: Date) => new Date(at.getTime() + LEASE_MS);

/** Claims the oldest run that is queued or whose lease lapsed (or the one given), for `owner`; undefined when there is none. */
export async function claimRun(db: Db, o: { now: Date; owner: string; runId?: string }): Promise<TestRunRow | undefined> {
  const next = db('test_runs')
    .select('id')
    .where((q) => q.where('status', 'queued').orWhere((r) => r.where('status', 'running').where('lease_until', '<', o.now)))
    .modify((q) => (o.runId ? q.where('id', o.runId) : q))
    .orderBy('created_at')
    .limit(1)
    .forUpdate()
    .skipLocked();
  const [run] = await db('test_runs')
    .whereIn('id', next)
    .update({
      status: 'running',
      lease_owner: o.owner,
      lease_until: leaseFrom(o.now),
      started_at: db.raw('coalesce(started_at, ?)', [o.now]),
      // A lapsed lease that still names its owner is a worker that stopped (a released run names none).
      resumed: db.raw('resumed + (lease_owner IS NOT NULL)::int'),
    })
    .returning('*');
  return run;
}

/** Lets go of a run not finished (a tick's share done): claimable again at once. */
export async function releaseRun(db: Db, runId: string, owner: string, now: Date) {
  await db('test_runs').where({ id: runId, lease_owner: owner, status: 'running' }).update({ lease_owner: null, lease_until: now });
}

/** Marks a run failed with its reason (unless it already finished); never left running. */
async function failRun(db: Db, runId: string, error: string, at: Date): Promise<TestRunRow> {
  await db('test_runs')
    .where({ id: runId })
    .whereIn('status', ['queued', 'running'])
    .update({ status: 'failed', error, finished_at: at, lease_owner: null, lease_until: null });
  return db('test_runs').where({ id: runId }).first() as Promise<TestRunRow>;
}

interface CaseOutcome {
  attempts: TestAttempt[];
  passed: boolean;
}

/** A case's attempts in order (repeats), each call's assertions judged; it passes when k of n attempts pass. */
async function runCase(
  snapshot: TestCaseSnapshot,
  request: SendRequest | string,
  call: (r: SendRequest) => Promise<CallOutcome>,
  renew: () => Promise<unknown>,
  references: Record<string, number[]>,
): Promise<CaseOutcome> {
  const attempts: TestAttempt[] = [];
  for (let i = 0; i < snapshot.repeats; i++) {
    await renew();
    const outcome: CallOutcome =
      typeof request === 'string'
        ? { ok: false, error: request, output: null, embedding: null, latency_ms: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 }
        : await call(request);
    const judged = { ...outcome, reference_embeddings: references };
    const verdicts = outcome.ok ? snapshot.assertions.map((a) => ({ assertion: describeAssertion(a), ...evaluate(a, judged) })) : [];
    const { embedding: _vector, ...kept } = outcome;
    attempts.push({ ...kept, verdicts, passed: outcome.ok && verdicts.every((v) => v.pass) });
  }
  return {
    attempts,
    passed: repeatsPass(
      attempts.map((a) => a.passed),
      snapshot.pass_k,
    ),
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The reference answers of the cases' `similar` assertions, each embedded once by the model under
 * test (a reference it cannot embed is left out: its assertion fails saying so); and what that cost.
 */
async function embedReferences(results: Row<'test_run_results'>[], call: (r: SendRequest) => Promise<CallOutcome>) {
  const texts = new Set(results.flatMap((r) => r.case_snapshot.assertions.flatMap((a) => (a.type === 'similar' ? [a.reference] : []))));
  const references: Record<string, number[]> = {};
  let cost = 0;
  for (const text of texts) {
    const embedded = await call({ input: text });
    cost += embedded.cost_usd;
    if (embedded.ok && embedded.embedding) references[text] = embedded.embedding;
  }
  return { references, cost };
}

/** Writes one case's result and the run's counts in one transaction, only while `owner` holds the run; false when it no longer does. */
async function writeResult(db: Db, runId: string, owner: string, result: Row<'test_run_results'>, outcome: CaseOutcome, at: Date) {
  return db.transaction(async (trx) => {
    const held = await trx('test_runs').where({ id: runId, lease_owner: owner, status: 'running' }).forUpdate().first('id');
    if (!held) return false;
    const { attempts, passed } = outcome;
    const cost = Math.round(sum(attempts.map((a) => a.cost_usd)) * 1e6) / 1e6;
    const written = await trx('test_run_results')
      .where({ id: result.id, status: 'pending' })
      .update({
        status: 'done',
        attempts: JSON.stringify(attempts),
        passed,
        latency_ms: Math.round(sum(attempts.map((a) => a.latency_ms)) / attempts.length),
        input_tokens: sum(attempts.map((a) => a.input_tokens)),
        output_tokens: sum(attempts.map((a) => a.output_tokens)),
        cost_usd: cost,
        finished_at: at,
      });
    if (written)
      await trx('test_runs')
        .where({ id: runId })
        .update({
          cases_done: trx.raw('cases_done + 1'),
          cases_passed: trx.raw('cases_passed + ?', [passed ? 1 : 0]),
          critical_failures: trx.raw('critical_failures + ?', [!passed && result.case_snapshot.critical ? 1 : 0]),
          cost_usd: trx.raw('cost_usd + ?', [cost]),
          lease_until: leaseFrom(at),
        });
    return true;
  });
}

/** Runs `work` over the items, at most `limit` at a time, in order; stops taking new ones once it answers false. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<boolean>) {
  let next = 0;
  let going = true;
  const lane = async () => {
    while (going && next < items.length) going = (await work(items[next++])) && going;
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export interface WorkOptions {
  owner: string;
  /** The injected clock at the start (jobs and tests); real time elapsed is added to it. */
  now: Date;
  /** At most this many cases now (a job tick's share). */
  maxCases?: number;
  /** No case is started after this time (the gate's timeout). */
  deadline?: Date;
}

/**
 * Works a claimed run: its pending cases, CONCURRENCY at a time, each stopped before it starts when it
 * could take the run's cost past its cap (its repeats × the estimated cost of a call, with the calls in
 * flight counted): then the run fails saying so. Done when no case is pending; still running (the
 * caller releases it) when the share or the deadline ran out. A run that cannot go on (its model gone
 * or archived, its provider unusable) fails with the reason.
 */
export async function workRun(db: Db, providers: Providers, run: TestRunRow, o: WorkOptions): Promise<TestRunRow> {
  const started = Date.now();
  const clock = () => new Date(o.now.getTime() + (Date.now() - started));
  if (run.resumed > MAX_RESUMED)
    return failRun(db, run.id, `cannot continue: its worker stopped ${run.resumed} times while running it (restarts or crashes)`, clock());
  const model = await loadModel(db, run.model_id);
  if (!model || isArchived(model))
    return failRun(db, run.id, `cannot continue: ${model ? `${model.display_name} was archived` : 'the model was removed'}`, clock());
  const opened = await openAdapter(providers, model);
  if ('check' in opened) return failRun(db, run.id, `cannot continue: ${opened.check.detail}`, clock());
  const version = run.prompt_version_id ? await db('prompt_versions').where({ id: run.prompt_version_id }).first() : undefined;
  const prices = await pricesOf(db, model.id);
  const pending = await db('test_run_results')
    .where({ run_id: run.id, status: 'pending' })
    .orderBy('position')
    .limit(o.maxCases ?? 100_000);
  const renew = () =>
    db('test_runs')
      .where({ id: run.id, lease_owner: o.owner })
      .update({ lease_until: leaseFrom(clock()) });
  const call = (r: SendRequest) => callModel(opened, model, prices, r);
  const { references, cost: embeddingCost } =
    model.model_type === 'embedding' ? await embedReferences(pending, call) : { references: {}, cost: 0 };
  let spent = Number(run.cost_usd) + embeddingCost;
  let reserved = 0;
  let stop: 'cap' | 'lost' | 'deadline' | undefined;
  const halt = (why: typeof stop) => {
    stop ??= why;
    return false;
  };
  await pool(pending, CONCURRENCY, async (result) => {
    if (o.deadline && clock() > o.deadline) return halt('deadline');
    const snapshot = result.case_snapshot;
    const estimate = snapshot.repeats * callEstimate(snapshot, version, prices, model.model_type === 'embedding');
    if (spent + reserved + estimate > Number(run.cost_cap_usd)) return halt('cap');
    reserved += estimate;
    let request: SendRequest | string;
    try {
      request = requestOf(version, snapshot.input);
    } catch (err) {
      request = `not sent: ${refusalOf(err).reasons}`;
    }
    const outcome = await runCase(snapshot, request, call, renew, references);
    reserved -= estimate;
    spent += sum(outcome.attempts.map((a) => a.cost_usd));
    if (!(await writeResult(db, run.id, o.owner, result, outcome, clock()))) return halt('lost');
    return true;
  });
  return settle(db, run, o.owner, stop, clock());
}

/** What a worked run becomes: failed at its cap, done when nothing is pending, else as it is. */
async function settle(db: Db, run: TestRunRow, owner: string, stop: string | undefined, at: Date): Promise<TestRunRow> {
  const now = (await db('test_runs').where({ id: run.id }).first())!;
  if (now.status !== 'running' || now.lease_owner !== owner) return now;
  if (stop === 'cap')
    return failRun(
      db,
      run.id,
      `cost cap $${Number(run.cost_cap_usd)} reached after ${now.cases_done} of ${now.cases_total} cases: the next case could cost more than what is left`,
      at,
    );
  const left = await db('test_run_results').where({ run_id: run.id, status: 'pending' }).first('id');
  if (left) return now;
  const [done] = await db('test_runs')
    .where({ id: run.id, lease_owner: owner, status: 'running' })
    .update({
      status: 'done',
      pass_rate: db.raw('CASE WHEN cases_total > 0 THEN round(100.0 * cases_passed / cases_total, 2) END'),
      finished_at: at,
      lease_owner: null,
      lease_until: null,
    })
    .returning('*');
  return done ?? now;
}
