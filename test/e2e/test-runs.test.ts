import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { claimRun, workRun } from '../../src/services/test-run-worker.ts';
import { startRun } from '../../src/services/test-runs.ts';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, suffix } from '../setup/factories.ts';
import type { FeatureRecord } from '../setup/rows.ts';
import { makeTestCase } from '../setup/test-cases.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// A suite run in a real browser (issue 16): started from the Testing tab, its page shows it queued,
// then — once the worker has run it (here as the job would, on this test's own run) — done: swapped in
// by htmx polling with JavaScript, by the page's meta refresh without.

const FEATURES = '/platform/ai-management/features';

let b: BrowserApp;
const fixtures: FeatureRecord[] = [];

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  for (let i = 0; i < 2; i++) {
    const feature = await makeFeature(t.db, { display_name: `Runs ${suffix()}` });
    const model = await makeModel(t.db, { name: `e2e-${suffix()}` });
    await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, assigned_by: 'e2e' });
    await makeTestCase(t.db, feature.id, { name: 'says ok', assertions: [{ type: 'contains', value: 'ok' }] });
    await makeTestCase(t.db, feature.id, { name: 'says nope', assertions: [{ type: 'equals', value: 'nope' }] });
    fixtures.push(feature);
  }
});
afterAll(() => b?.close());

const tab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'testing' })}`;
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

/** Starts the suite from the tab's form and lands on the run's page, queued; answers the run's id. */
async function start(page: Page, feature: FeatureRecord) {
  await page.selectOption('#test-run-target', 'env:production');
  await Promise.all([page.waitForURL(/\/test-runs\/[0-9a-f-]{36}$/), page.click('#test-run-form button:not([name])')]);
  expect(squash(await page.textContent('#test-run-progress'))).toBe('queued 0 of 2 cases');
  const run = await b.t.db('test_runs').where({ feature_id: feature.id }).first();
  return run!.id;
}

/** Works the run, as the job does. */
async function work(runId: string) {
  const owner = randomUUID();
  const now = new Date();
  const claimed = await claimRun(b.t.db, { now, owner, runId });
  await workRun(b.t.db, b.t.app.providers, claimed!, { owner, now });
}

async function seesItDone(page: Page) {
  await page.waitForSelector('#test-run-progress:has-text("done")');
  expect(squash(await page.textContent('#test-run-progress'))).toBe('done 2 of 2 cases');
  expect(squash(await page.textContent('#test-run-facts'))).toContain('Pass rate 50.0% (1 passed)');
  expect(squash(await page.textContent('#test-run-results tr[data-case="1"] [data-label="Assertions"]'))).toBe(
    'is exactly “nope”: the output is not exactly “nope”',
  );
}

describe('a suite run with JavaScript', () => {
  it('when started, then its page polls and shows it finished without a reload', async () => {
    const feature = fixtures[0];
    const { context, page, problems } = await b.signedIn(tab(feature.name));
    const runId = await start(page, feature);
    await markNoReload(page);
    await work(runId);
    await seesItDone(page);
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('a suite run without JavaScript', () => {
  it('when started, then its page refreshes itself until it shows it finished', async () => {
    const feature = fixtures[1];
    const { context, page, problems } = await b.signedIn(tab(feature.name), { javaScriptEnabled: false });
    const runId = await start(page, feature);
    await work(runId);
    await seesItDone(page);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the run pages for everyone', () => {
  it('when the tab, a finished run and two runs compared are seen at desktop width and at 390 px, then axe finds nothing serious and nothing scrolls sideways', async () => {
    const feature = await makeFeature(b.t.db, { display_name: `Runs a11y ${suffix()}` });
    const model = await makeModel(b.t.db, { name: `e2e-${suffix()}` });
    await makeAssignment(b.t.db, { feature_id: feature.id, model_id: model.id, assigned_by: 'e2e' });
    await makeTestCase(b.t.db, feature.id, { name: 'says ok', critical: true, assertions: [{ type: 'contains', value: 'nope' }] });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { run } = await startRun(b.t.db, { kind: 'system', label: 'e2e' }, feature, { environment: 'production' });
      await work(run.id);
      ids.push(run.id);
    }
    const pages = [
      tab(feature.name),
      `${FEATURES}/${feature.name}/test-runs/${ids[0]}`,
      `${FEATURES}/${feature.name}/test-runs/compare?${new URLSearchParams({ a: ids[0], b: ids[1] })}`,
    ];
    for (const viewport of [undefined, { width: 390, height: 844 }]) {
      const { context, page } = await b.signedIn(pages[0], viewport && { viewport });
      for (const path of pages) {
        await page.goto(`${b.baseUrl}${path}`);
        expect(await seriousViolations(page), path).toEqual([]);
        const wide = await page.evaluate(
          () =>
            [document.documentElement, ...document.querySelectorAll('.table-wrap')].filter((el) => el.scrollWidth > el.clientWidth + 1)
              .length,
        );
        expect(wide, `${path} at ${viewport?.width ?? 'desktop'} px`).toBe(0);
        await shot(page, `test-runs-${pages.indexOf(path)}-${viewport?.width ?? 'desktop'}`);
      }
      await context.close();
    }
  });
});
