import { randomUUID } from 'node:crypto';
import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimRun, workRun } from '../../../src/services/test-run-worker.ts';
import { hx, text } from '../../setup/html.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { makeTestCase } from '../../setup/test-cases.ts';
import { openPrompts, PAGE, type Prompts } from '../prompts/setup.ts';

// Suite runs in the console and the API (issue 16): the Testing tab's start form (estimate, cap,
// refusals), a run's page while it runs and once done, cancel, CSV, two runs compared, viewers
// read-only. Runs are worked here as the job would, by claiming the test's own run.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const tabUrl = (feature: string) => `${PAGE}?${new URLSearchParams({ feature, tab: 'testing' })}`;
const runUrl = (slug: string, id: string) => `${PAGE}/${slug}/test-runs/${id}`;

/** Works a run to its end, as the job does. */
async function finish(runId: string) {
  const owner = randomUUID();
  const now = new Date();
  const claimed = await claimRun(p.t.db, { now, owner, runId });
  return workRun(p.t.db, p.t.app.providers, claimed!, { owner, now });
}

async function startForm(slug: string, fields: Record<string, string>, as = p.admin) {
  return as.agent
    .post(`${PAGE}/${slug}/test-runs`)
    .type('form')
    .send({ _csrf: as.csrf, ...fields });
}

/** A feature served by a simulator model (which always answers "ok") with a passing case and a failing critical one. */
async function suite() {
  const { feature, model } = await p.feature();
  await makeTestCase(p.t.db, feature.id, { name: 'says ok', assertions: [{ type: 'contains', value: 'ok' }] });
  await makeTestCase(p.t.db, feature.id, { name: 'exact', critical: true, assertions: [{ type: 'equals', value: 'nope' }] });
  return { feature, model };
}

const runsOf = (feature: FeatureRecord) => p.t.db('test_runs').where({ feature_id: feature.id });

describe('POST /platform/ai-management/features/:slug/test-runs (no JavaScript)', () => {
  it('when the estimate is asked for, then the tab shows it as an estimate with the default cap filled in, and nothing is written', async () => {
    const { feature } = await suite();
    const res = await startForm(feature.name, { target: 'env:production', prompt_version: '', cost_cap_usd: '', estimate: '1' });
    expect(res.status).toBe(200);
    const $ = cheerio.load(res.text);
    expect(text($('#test-run-estimate'))).toMatch(/^Estimated cost: \$0\.0010? for 2 cases, 2 calls — an estimate/);
    expect($('#test-run-cost_cap_usd').val()).toBe('0.01');
    // The tab shows it for the first target before anything is asked.
    const tab = await p.page(tabUrl(feature.name));
    expect(text(tab('#test-run-target option').first())).toMatch(/^development: /);
    expect(text(tab('#test-run-estimate'))).toMatch(/^Estimated cost with the first target: \$0\.0010? for 2 cases, 2 calls — an estimate/);
    expect(await runsOf(feature)).toEqual([]);
  });

  it('when started, then 303 to the run page, which shows it queued and refreshes itself (htmx polling, and a meta refresh without JavaScript)', async () => {
    const { feature } = await suite();
    const res = await startForm(feature.name, { target: 'env:production', prompt_version: '', cost_cap_usd: '1' });
    expect(res.status).toBe(303);
    const [run] = await runsOf(feature);
    expect(run).toMatchObject({ status: 'queued', cases_total: 2, cost_cap_usd: 1, environment: 'production', purpose: 'manual' });
    expect(res.headers.location).toBe(runUrl(feature.name, run.id));
    const $ = await p.page(runUrl(feature.name, run.id));
    expect(text($('.flash'))).toMatch(/Run queued: 2 cases, estimated at \$[\d.]+ \(an estimate\)/);
    expect(text($('#test-run-progress'))).toBe('queued 0 of 2 cases');
    expect($('#test-run-body').attr('hx-trigger')).toBe('every 2s');
    expect($('#test-run-body noscript').html()).toContain('http-equiv="refresh"');
    expect($('#test-run-cancel')).toHaveLength(1);
    expect(await p.t.db('audit_log').where({ entity_id: feature.id, action: 'test_run.created' })).toHaveLength(1);
  });

  it('when done, then each case shows its output, verdicts in words, attempts, tokens and cost; the critical failure is highlighted; no more refresh', async () => {
    const { feature } = await suite();
    await startForm(feature.name, { target: 'env:production', prompt_version: '' });
    const [run] = await runsOf(feature);
    await finish(run.id);
    const $ = await p.page(runUrl(feature.name, run.id));
    expect(text($('#test-run-progress'))).toBe('done 2 of 2 cases');
    expect(text($('#test-run-facts'))).toContain('Pass rate 50.0% (1 passed)');
    expect(text($('#test-run-critical'))).toBe('Critical cases failed: exact');
    expect($('#test-run-body').attr('hx-get')).toBeUndefined();
    expect($('#test-run-body noscript')).toHaveLength(0);
    expect($('#test-run-cancel')).toHaveLength(0);
    const [ok, exact] = $('#test-run-results tbody tr')
      .toArray()
      .map((tr) => $(tr));
    expect(text(ok.find('[data-label="Result"]'))).toBe('passed, 1 of 1 attempts (needs 1)');
    expect(text(ok.find('[data-label="Output"]'))).toBe('ok');
    expect(text(ok.find('[data-label="Assertions"]'))).toBe('contains “ok”: holds');
    expect(text(ok.find('[data-label="Tokens"]'))).toBe('8 in, 1 out');
    expect(exact.hasClass('critical-failure')).toBe(true);
    expect(text(exact.find('[data-label="Assertions"]'))).toBe('is exactly “nope”: the output is not exactly “nope”');
    // The tab lists it.
    const tab = await p.page(tabUrl(feature.name));
    expect(text(tab(`#test-run-list tr[data-run="${run.id}"] [data-label="Pass rate"]`))).toBe('50.0% 1 critical failed');
  });

  it('when the target or the cap is not valid, then 422 with the message on the field, and nothing is written', async () => {
    const { feature } = await suite();
    const res = await startForm(feature.name, { target: '', cost_cap_usd: 'lots' });
    expect(res.status).toBe(422);
    const $ = cheerio.load(res.text);
    expect(text($('#test-run-target-error'))).toBe('Run against choose an environment or a model');
    expect(text($('#test-run-cost_cap_usd-error'))).toBe('Cost cap in USD must be an amount in USD above 0');
    expect(await runsOf(feature)).toEqual([]);
  });

  it('when the feature has no case, then the tab says so and a post is refused', async () => {
    const { feature } = await p.feature();
    expect(text((await p.page(tabUrl(feature.name)))('#test-runs-no-cases'))).toContain('no test cases yet');
    expect((await startForm(feature.name, { target: 'env:production' })).status).toBe(422);
  });

  it('when a viewer looks, then no form and no cancel; when a viewer posts, then 403 and nothing changes', async () => {
    const { feature } = await suite();
    await startForm(feature.name, { target: 'env:production' });
    const [run] = await runsOf(feature);
    const tab = await p.page(tabUrl(feature.name), p.viewer);
    expect(tab('#test-run-form')).toHaveLength(0);
    expect(text(tab('#test-runs'))).toContain('Only an admin can start a run.');
    const page = await p.page(runUrl(feature.name, run.id), p.viewer);
    expect(page('#test-run-cancel')).toHaveLength(0);
    expect((await startForm(feature.name, { target: 'env:production' }, p.viewer)).status).toBe(403);
    const cancel = await p.viewer.agent
      .post(`${runUrl(feature.name, run.id)}/cancel`)
      .type('form')
      .send({ _csrf: p.viewer.csrf });
    expect(cancel.status).toBe(403);
    expect(await runsOf(feature)).toHaveLength(1);
    expect((await runsOf(feature))[0].status).toBe('queued');
  });
});

describe('a run page', () => {
  it('when cancelled by an admin, then it stops (303), audited, and the worker leaves it alone', async () => {
    const { feature } = await suite();
    await startForm(feature.name, { target: 'env:production' });
    const [run] = await runsOf(feature);
    const res = await p.admin.agent
      .post(`${runUrl(feature.name, run.id)}/cancel`)
      .type('form')
      .send({ _csrf: p.admin.csrf });
    expect(res.status).toBe(303);
    expect(await claimRun(p.t.db, { now: new Date(), owner: 'x', runId: run.id })).toBeUndefined();
    expect((await runsOf(feature))[0]).toMatchObject({ status: 'cancelled', cases_done: 0 });
    expect(await p.t.db('audit_log').where({ entity_id: feature.id, action: 'test_run.cancelled' })).toHaveLength(1);
  });

  it('when polled by htmx, then the body alone; as CSV, one line per case; another feature’s run is not found', async () => {
    const { feature } = await suite();
    await startForm(feature.name, { target: 'env:production' });
    const [run] = await runsOf(feature);
    await finish(run.id);
    const polled = await p.admin.agent.get(runUrl(feature.name, run.id)).set(hx('section#test-run-body'));
    expect(polled.text).not.toMatch(/<html/);
    expect(cheerio.load(polled.text)('#test-run-body')).toHaveLength(1);
    const csv = await p.admin.agent.get(`${runUrl(feature.name, run.id)}?format=csv`);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe(
      'case,critical,status,passed,attempts_passed,repeats,latency_ms,input_tokens,output_tokens,cost_usd,output,failed_assertions',
    );
    expect(lines[2]).toMatch(/^exact,yes,done,no,0,1,\d+,8,1,0\.00001,ok,is exactly “nope”: the output is not exactly “nope”$/);
    const other = await p.feature();
    expect((await p.admin.agent.get(runUrl(other.feature.name, run.id))).status).toBe(404);
  });
});

describe('GET …/test-runs/compare?a=&b=', () => {
  it('lists the cases that flipped first (pass → fail, then fail → pass), with the pass rate, latency and cost deltas', async () => {
    const { feature } = await p.feature();
    const steady = await makeTestCase(p.t.db, feature.id, { name: 'steady', assertions: [{ type: 'contains', value: 'ok' }] });
    const breaks = await makeTestCase(p.t.db, feature.id, { name: 'breaks', assertions: [{ type: 'contains', value: 'ok' }] });
    const mends = await makeTestCase(p.t.db, feature.id, { name: 'mends', assertions: [{ type: 'equals', value: 'nope' }] });
    const runOnce = async () => {
      await startForm(feature.name, { target: 'env:production' });
      const run = (await runsOf(feature).orderBy('created_at', 'desc').first())!;
      await finish(run.id);
      return run.id as string;
    };
    const a = await runOnce();
    await p.t
      .db('test_cases')
      .where({ id: breaks.id })
      .update({ assertions: JSON.stringify([{ type: 'equals', value: 'nope' }]) });
    await p.t
      .db('test_cases')
      .where({ id: mends.id })
      .update({ assertions: JSON.stringify([{ type: 'regex', pattern: 'o' }]) });
    const b = await runOnce();
    expect(steady.id).toBeDefined();

    const $ = await p.page(`${PAGE}/${feature.name}/test-runs/compare?${new URLSearchParams({ a, b })}`);
    const rows = $('#compare-cases tbody tr')
      .toArray()
      .map((tr) => [$(tr).attr('data-case'), $(tr).attr('data-flip') ?? null]);
    expect(rows).toEqual([
      ['breaks', 'regressed'],
      ['mends', 'fixed'],
      ['steady', null],
    ]);
    expect(text($('#compare-cases tr[data-case="breaks"] th'))).toBe('breaks pass → fail');
    expect(text($('#compare-flips'))).toBe('1 case went from pass to fail, 1 from fail to pass.');
    const cells = (row: string) =>
      $(`#compare-summary tr[data-row="${row}"]`)
        .find('th, td')
        .toArray()
        .map((c) => text($(c)));
    expect(cells('pass-rate')).toEqual(['Pass rate', '66.7%', '66.7%', '0.0 points']);
    expect(cells('cost')).toEqual(['Cost', '$0.00003', '$0.00003', '$0.0000']);
    // The tab offers the two runs to compare, newest as B.
    const tab = await p.page(tabUrl(feature.name));
    expect([tab('input[name="a"]:checked').val(), tab('input[name="b"]:checked').val()]).toEqual([a, b]);
    expect(tab('#test-run-compare-form').attr('action')).toBe(`${PAGE}/${feature.name}/test-runs/compare`);
  });

  it('when a run is not one of this feature’s, then 404; when an id is malformed, then 400 naming it', async () => {
    const { feature } = await p.feature();
    const missing = randomUUID();
    expect((await p.admin.agent.get(`${PAGE}/${feature.name}/test-runs/compare?a=${missing}&b=${missing}`)).status).toBe(404);
    const bad = await p.admin.agent.get(`${PAGE}/${feature.name}/test-runs/compare?a=nope&b=${missing}`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('a must be the id of a run');
  });
});

describe('the JSON API', () => {
  it('POST …/features/:id/test-runs answers 202 with the id, status and estimate; GET …/test-runs/:id the status, results and pass rate', async () => {
    const { feature, model } = await suite();
    const res = await p.api('post', `/features/${feature.id}/test-runs`).send({ model_id: model.id, cost_cap_usd: 0.5 });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.data).toMatchObject({ status: 'queued', estimate: { cases: 2, cost_cap_usd: 0.5, usd: expect.any(Number) } });
    expect(res.headers.location).toBe(`/api/platform/ai-management/test-runs/${res.body.data.id}`);
    await finish(res.body.data.id);
    const got = await p.api('get', `/test-runs/${res.body.data.id}`, p.readToken);
    expect(got.status).toBe(200);
    expect(got.body.data).toMatchObject({ status: 'done', pass_rate: 50, critical_failures: 1 });
    expect(got.body.data.results.map((r: { name: string; passed: boolean }) => [r.name, r.passed])).toEqual([
      ['says ok', true],
      ['exact', false],
    ]);
    expect(got.body.data).not.toHaveProperty('lease_owner');
  });

  it('refuses unknown fields by name (422), a read token (403), an unknown run (404)', async () => {
    const { feature } = await suite();
    const bad = await p.api('post', `/features/${feature.id}/test-runs`).send({ environment: 'production', colour: 'red' });
    expect(bad.status).toBe(422);
    expect(bad.body.details).toEqual({ colour: 'is not a field of a test run' });
    expect((await p.api('post', `/features/${feature.id}/test-runs`, p.readToken).send({ environment: 'production' })).status).toBe(403);
    expect((await p.api('get', `/test-runs/${randomUUID()}`)).status).toBe(404);
    expect(await runsOf(feature)).toEqual([]);
  });
});
