import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { findTestRun, recentTestRuns, type TestRunListRow, testRunResults } from '../db/queries/test-runs.ts';
import type { Row } from '../db/tables.ts';
import { notFound, refusalOf } from '../http/errors.ts';
import { plannedRun, runBodyOfForm, runInputOf } from '../services/test-runs.ts';
import { toCsv } from './csv.ts';

// Suite runs as pages show them (issue 16): the Testing tab's list and start form, a run's page
// (progress, per case: output, verdicts, attempts, latency, tokens, cost) and two runs side by side.

type Result = Row<'test_run_results'>;

/** A refusal is no estimate; any other error is an error. */
const refused = (err: unknown) => void refusalOf(err);

const isOpen = (r: Pick<TestRunListRow, 'status'>) => r.status === 'queued' || r.status === 'running';
/** What a run aimed at, in words: its model and prompt version (or none). */
const targetOf = (r: TestRunListRow) =>
  `${r.model_display_name}${r.prompt_version === null ? ', no prompt' : `, prompt v${r.prompt_version}`}`;
const shown = (r: TestRunListRow) => ({ ...r, target: targetOf(r), open: isOpen(r) });

/** What a run of the form's target would cost, estimated (see plannedRun), with its default cap; throws the refusal of a target not valid. */
export async function runEstimate(db: Db, feature: FeatureRow, values: Record<string, unknown>) {
  const plan = await plannedRun(db, feature, runInputOf(runBodyOfForm(values)).target);
  const calls = plan.snapshots.reduce((n, c) => n + c.snapshot.repeats, 0);
  return { usd: plan.estimate, cap: plan.defaultCap, cases: plan.snapshots.length, calls };
}
export type RunEstimate = Awaited<ReturnType<typeof runEstimate>>;

/**
 * The Testing tab's runs: the recent ones (two finished ones can be compared), the cases a run would
 * take, and the estimate of a run of the form's first target (none when it cannot run).
 */
export async function testRunsPanel(db: Db, feature: FeatureRow, firstTarget?: string) {
  const [runs, cases] = await Promise.all([
    recentTestRuns(db, feature.id),
    db('test_cases').where({ feature_id: feature.id }).whereNull('deleted_at').select('repeats'),
  ]);
  const estimate = cases.length && firstTarget ? await runEstimate(db, feature, { target: firstTarget }).catch(refused) : undefined;
  const list = runs.map(shown);
  const done = list.filter((r) => r.status === 'done');
  return {
    runs: list,
    cases: cases.length,
    calls: cases.reduce((n, c) => n + c.repeats, 0),
    estimate,
    /** The two newest finished runs, chosen at first for a comparison (the older as A); none while fewer than two finished. */
    pair: done.length >= 2 ? { a: done[1].id, b: done[0].id } : undefined,
  };
}

const attemptsPassed = (r: Result) => r.attempts.filter((a) => a.passed).length;

function shownResult(r: Result) {
  const last = r.attempts.at(-1);
  return {
    ...r,
    name: r.case_snapshot.name,
    critical: r.case_snapshot.critical,
    repeats: r.case_snapshot.repeats,
    pass_k: r.case_snapshot.pass_k,
    attempts_passed: attemptsPassed(r),
    output: last ? (last.ok ? (last.output ?? '') : `error: ${last.error}`) : null,
    criticalFailure: r.case_snapshot.critical && r.passed === false,
  };
}

/** A run's page: the run, its progress and each case's result (critical failures named first). */
export async function testRunPage(db: Db, run: TestRunListRow) {
  const results = (await testRunResults(db, run.id)).map(shownResult);
  return {
    run: shown(run),
    results,
    criticalFailures: results.filter((r) => r.criticalFailure).map((r) => r.name),
  };
}

/** A run as the JSON API answers it: status, progress, pass rate and per case its attempts with their verdicts. */
export async function testRunJson(db: Db, run: TestRunListRow) {
  const results = await testRunResults(db, run.id);
  const { lease_owner: _owner, lease_until: _until, ...kept } = run;
  return {
    ...kept,
    results: results.map((r) => ({
      case_id: r.case_id,
      name: r.case_snapshot.name,
      critical: r.case_snapshot.critical,
      status: r.status,
      passed: r.passed,
      latency_ms: r.latency_ms,
      input_tokens: r.input_tokens,
      output_tokens: r.output_tokens,
      cost_usd: r.cost_usd,
      attempts: r.attempts,
    })),
  };
}

/** A run's results as CSV: one line per case. */
export async function testRunCsv(db: Db, run: TestRunListRow) {
  const { results } = await testRunPage(db, run);
  const header = ['case', 'critical', 'status', 'passed', 'attempts_passed', 'repeats', 'latency_ms', 'input_tokens', 'output_tokens'];
  return toCsv(
    [...header, 'cost_usd', 'output', 'failed_assertions'],
    results.map((r) => [
      r.name,
      r.critical ? 'yes' : 'no',
      r.status,
      r.passed === null ? null : r.passed ? 'yes' : 'no',
      r.attempts_passed,
      r.repeats,
      r.latency_ms,
      r.input_tokens,
      r.output_tokens,
      r.cost_usd,
      r.output,
      r.attempts
        .flatMap((a) => a.verdicts.filter((v) => !v.pass).map((v) => `${v.assertion}: ${v.detail}`))
        .filter((v, i, all) => all.indexOf(v) === i)
        .join('; '),
    ]),
  );
}

type Flip = 'regressed' | 'fixed' | null;
const FLIP_ORDER: Record<string, number> = { regressed: 0, fixed: 1, null: 2 };
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);

/** Each case of B with its match in A (by case id, else by name), then A's cases B does not have. */
function matched(a: Result[], b: Result[]) {
  const byName = (r: Result) => r.case_snapshot.name.toLowerCase();
  const left = new Set(a);
  const pairs = b.map((rb) => {
    const ra =
      (rb.case_id && a.find((x) => x.case_id === rb.case_id && left.has(x))) || a.find((x) => left.has(x) && byName(x) === byName(rb));
    if (ra) left.delete(ra);
    return { a: ra, b: rb as Result | undefined };
  });
  return [...pairs, ...[...left].map((ra) => ({ a: ra as Result | undefined, b: undefined }))];
}

const side = (r: TestRunListRow, results: Result[]) => ({
  ...shown(r),
  mean_latency_ms: mean(results.filter((x) => x.latency_ms !== null).map((x) => x.latency_ms as number)),
});

/** Two runs of a feature side by side: per case, which flipped (listed first), and the pass rate, latency and cost deltas. */
export async function compareTestRuns(db: Db, feature: FeatureRow, ids: { a: string; b: string }) {
  const [a, b] = await Promise.all([findTestRun(db, feature.id, ids.a), findTestRun(db, feature.id, ids.b)]);
  if (!a || !b) throw notFound('Test run');
  const [ra, rb] = await Promise.all([testRunResults(db, a.id), testRunResults(db, b.id)]);
  const rows = matched(ra, rb).map(({ a: x, b: y }, i) => {
    const flip: Flip = x?.passed === true && y?.passed === false ? 'regressed' : x?.passed === false && y?.passed === true ? 'fixed' : null;
    return {
      name: (y ?? x)!.case_snapshot.name,
      critical: (y ?? x)!.case_snapshot.critical,
      flip,
      order: i,
      a: x && shownResult(x),
      b: y && shownResult(y),
      latency_delta_ms: delta(x?.latency_ms ?? null, y?.latency_ms ?? null),
      cost_delta_usd: x && y ? y.cost_usd - x.cost_usd : null,
    };
  });
  rows.sort((p, q) => FLIP_ORDER[String(p.flip)] - FLIP_ORDER[String(q.flip)] || p.order - q.order);
  const [sa, sb] = [side(a, ra), side(b, rb)];
  return {
    a: sa,
    b: sb,
    rows,
    regressed: rows.filter((r) => r.flip === 'regressed').length,
    fixed: rows.filter((r) => r.flip === 'fixed').length,
    deltas: {
      pass_rate: delta(sa.pass_rate, sb.pass_rate),
      mean_latency_ms: delta(sa.mean_latency_ms, sb.mean_latency_ms),
      cost_usd: sb.cost_usd - sa.cost_usd,
    },
  };
}
