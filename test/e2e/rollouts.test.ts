import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { changeRollout } from '../../src/services/rollouts.ts';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, suffix } from '../setup/factories.ts';
import type { FeatureRecord, ModelRecord } from '../setup/rows.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// A gradual rollout in a real browser (issue 18): started from the Models tab's link and form, watched
// on its page while it changes (htmx polling with JavaScript, the meta refresh without), rolled back.

const FEATURES = '/platform/ai-management/features';

let b: BrowserApp;
const fixtures: { feature: FeatureRecord; candidate: ModelRecord }[] = [];

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  for (let i = 0; i < 3; i++) {
    const feature = await makeFeature(t.db, { display_name: `Rollout ${suffix()}` });
    const stable = await makeModel(t.db, { name: `e2e-${suffix()}` });
    const candidate = await makeModel(t.db, { name: `e2e-${suffix()}` });
    await makeAssignment(t.db, { feature_id: feature.id, model_id: stable.id, assigned_by: 'e2e', environment: 'staging' });
    fixtures.push({ feature, candidate });
  }
});
afterAll(() => b?.close());

const tab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'models', environment: 'staging' })}`;
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

/** From the Models tab's link, the form started with the candidate: lands on the rollout's page. */
async function start(page: Page, f: (typeof fixtures)[number]) {
  await Promise.all([page.waitForURL(/\/rollouts\/new\?/), page.click('#models-tab-rollout a')]);
  await page.selectOption('#rollout-model_id', f.candidate.id);
  await Promise.all([page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/), page.click('#rollout-start button[type="submit"]')]);
  expect(squash(await page.textContent('#rollout-state'))).toBe('running 1.00% of users on the candidate');
  const rollout = await b.t.db('rollouts').where({ feature_id: f.feature.id }).first();
  return rollout!.id;
}

/** Raised to 5% behind the page's back: the page shows it (then `watched` checks how), and Roll back ends it. */
async function watchAndRollBack(page: Page, id: string, watched: () => Promise<void> = async () => undefined) {
  await changeRollout(b.t.db, { kind: 'system', label: 'e2e' }, id, 'percent', { percent: 5 });
  await page.waitForSelector('#rollout-state:has-text("5.00%")', { timeout: 20_000 });
  await watched();
  await Promise.all([page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/), page.click('#rollout-actions button:has-text("Roll back")')]);
  await page.waitForSelector('#rollout-state:has-text("rolled back")');
  expect(squash(await page.textContent('#rollout-decisions tbody tr:first-child [data-label="Why"]'))).toBe(
    'rolled back: everyone back on stable',
  );
}

describe('a rollout with JavaScript', () => {
  it('when started, then its page polls and shows the raise without a reload, and Roll back ends it', async () => {
    const f = fixtures[0];
    const { context, page, problems } = await b.signedIn(tab(f.feature.name));
    const id = await start(page, f);
    await markNoReload(page);
    await watchAndRollBack(page, id, async () => expect(await noReloadMark(page)).toBe(1));
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('a rollout without JavaScript', () => {
  it('when started, then its page refreshes itself to show the raise, and Roll back ends it', async () => {
    const f = fixtures[1];
    const { context, page, problems } = await b.signedIn(tab(f.feature.name), { javaScriptEnabled: false });
    await watchAndRollBack(page, await start(page, f));
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the rollout pages for everyone', () => {
  it('when the start form and a live rollout’s page are seen at desktop width and at 390 px, then axe finds nothing serious and nothing scrolls sideways', async () => {
    const f = fixtures[2];
    for (const viewport of [undefined, { width: 390, height: 844 }]) {
      const { context, page } = await b.signedIn(tab(f.feature.name), viewport && { viewport });
      const existing = await b.t.db('rollouts').where({ feature_id: f.feature.id, status: 'running' }).first();
      const paths = [`/platform/ai-management/rollouts/new?feature=${f.feature.name}&environment=staging`];
      if (!existing) await start(page, f);
      const rollout = await b.t.db('rollouts').where({ feature_id: f.feature.id, status: 'running' }).first();
      paths.push(`/platform/ai-management/rollouts/${rollout!.id}`);
      for (const path of paths) {
        await page.goto(`${b.baseUrl}${path}`);
        expect(await seriousViolations(page), path).toEqual([]);
        const wide = await page.evaluate(
          () =>
            [document.documentElement, ...document.querySelectorAll('.table-wrap')].filter((el) => el.scrollWidth > el.clientWidth + 1)
              .length,
        );
        expect(wide, `${path} at ${viewport?.width ?? 'desktop'} px`).toBe(0);
        await shot(page, `rollouts-${paths.indexOf(path)}-${viewport?.width ?? 'desktop'}`);
      }
      await context.close();
    }
  });
});
