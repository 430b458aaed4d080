import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, suffix } from '../setup/factories.ts';
import type { FeatureRecord, ModelRecord } from '../setup/rows.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// Changing a feature's model from its Models tab in a real browser: with JavaScript (htmx swaps the
// panel in place, shows the progress line, then the flash or the refusal) and without (a plain form
// post, a 303 and the tab again). The database is shared: features and simulator models of this file's own.

const FEATURES = '/platform/ai-management/features';
const FLASH = 'Deployed to staging: every check passed and the new model serves it now.';

let b: BrowserApp;
/** Per test: a feature served in staging by `served`, a healthy `next` and a `failing` model (errorRate 1). */
let fixtures: { f: FeatureRecord; served: ModelRecord; next: ModelRecord; failing: ModelRecord }[] = [];

async function fixture(t: TestContext) {
  const f = await makeFeature(t.db, { display_name: `Change model ${suffix()}` });
  const model = () => makeModel(t.db, { name: `e2e-${suffix()}` });
  const [served, next, failing] = [await model(), await model(), await model()];
  const sim = await t.app.providers.simulator();
  sim.configure(next.name, { latencyMs: 400 }); // long enough to see the progress line
  sim.configure(failing.name, { errorRate: 1 });
  await makeAssignment(t.db, { feature_id: f.id, model_id: served.id, environment: 'staging', assigned_by: 'e2e' });
  return { f, served, next, failing };
}

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  fixtures = [await fixture(t), await fixture(t)];
});
afterAll(() => b?.close());

const stagingTab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'models', environment: 'staging' })}`;
// caret 'initial': hiding the caret leaves style="" on every input, which htmx's next swap copies
// onto the new inputs by setAttribute, a CSP violation that would be the test's own doing.
const shotOf = (page: Page, name: string) => shot(page, name, { caret: 'initial' });
/** Chromium's own console line for a response the refusal is meant to answer with. */
const EXPECTED_422 = 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)';
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();
const currentModel = async (page: Page) => squash(await page.textContent('#current-model strong'));
const activeIds = async (featureId: string) =>
  (
    await b.t.db('feature_model_assignments').where({ feature_id: featureId, environment: 'staging', is_active: true }).select('model_id')
  ).map((r: { model_id: string }) => r.model_id);
const POST_OF = (slug: string) => (r: { url(): string; request(): { method(): string } }) =>
  r.request().method() === 'POST' && new URL(r.url()).pathname === `${FEATURES}/${slug}/models`;

describe('changing the model with JavaScript', () => {
  it('when a model is picked and deployed, then the panel is swapped in place with the flash and the new model; a refused one shows its failed check and changes nothing', async () => {
    const { f, served, next, failing } = fixtures[0];
    const { context, page, problems } = await b.signedIn(stagingTab(f.name));
    expect(await page.getAttribute('html', 'class')).toBe('js');
    expect(await currentModel(page)).toBe(served.display_name);
    expect(await page.isDisabled(`#m-${served.id}`)).toBe(true);
    await markNoReload(page);
    const before = page.url();

    // A healthy model: the progress line shows while the checks run, then the panel comes back.
    expect(await page.isVisible('#deploy-progress')).toBe(false);
    await page.check(`#m-${next.id}`);
    const [posted] = await Promise.all([
      page.waitForResponse(POST_OF(f.name)),
      page.click('#change-model button:text-is("Deploy to staging")'),
      page.waitForSelector('#deploy-progress', { state: 'visible' }),
    ]);
    expect(posted.status()).toBe(200);
    await page.waitForSelector('#feature-panel .flash-success');
    expect(squash(await page.textContent('#feature-panel .flash-success'))).toBe(FLASH);
    expect(await page.isVisible('#feature-panel .flash-success')).toBe(true);
    expect(await currentModel(page)).toBe(next.display_name);
    expect(await page.getAttribute(`#candidates tr[data-model="${next.name}"]`, 'class')).toBe('current');
    expect(await page.isDisabled(`#m-${next.id}`)).toBe(true);
    expect(await page.isVisible('#deploy-progress')).toBe(false);
    expect(await page.locator('#feature-panel').count()).toBe(1);
    expect(await page.locator('.flashes').count()).toBe(1); // in the panel only, not the page's too
    expect(await noReloadMark(page)).toBe(1);
    expect(page.url()).toBe(before);
    expect(await activeIds(f.id)).toEqual([next.id]);
    await shotOf(page, 'models-change-js');

    // A model whose smoke request fails: 422, swapped in as well, with the checks.
    await page.check(`#m-${failing.id}`);
    const [refused] = await Promise.all([
      page.waitForResponse(POST_OF(f.name)),
      page.click('#change-model button:text-is("Deploy to staging")'),
    ]);
    expect(refused.status()).toBe(422);
    await page.waitForSelector('#deployment-result', { state: 'visible' });
    expect(squash(await page.textContent('#deployment-result h3'))).toBe('The deployment was refused; nothing was changed');
    const checks = await page
      .locator('#deployment-result ol.checks li')
      .evaluateAll((lis) => lis.map((li) => [li.className, li.textContent?.replace(/\s+/g, ' ').trim()]));
    expect(checks.map(([tone]) => tone)).toEqual(['tone-good', 'tone-good', 'tone-bad']);
    expect(checks[2][1]).toBe('smoke: smoke request failed: the provider answered 503');
    // Passed or failed is said in words and a mark before each check, not by its colour alone.
    const marks = await page
      .locator('#deployment-result ol.checks li')
      .evaluateAll((lis) => lis.map((li) => getComputedStyle(li, '::before').content));
    expect(marks).toEqual(['"✓ passed: " / "passed: "', '"✓ passed: " / "passed: "', '"✗ failed: " / "failed: "']);
    // and a screen reader reads the words too.
    expect(await page.locator('#deployment-result ol.checks li').nth(0).ariaSnapshot()).toContain('text: "passed:"');
    expect(await page.locator('#deployment-result ol.checks li').nth(2).ariaSnapshot()).toContain('text: "failed:"');
    expect(await currentModel(page)).toBe(next.display_name);
    expect(await page.locator('#feature-panel .flash').count()).toBe(0);
    expect(await noReloadMark(page)).toBe(1);
    expect(await activeIds(f.id)).toEqual([next.id]);
    await shotOf(page, 'models-refused-js');

    expect(problems.filter((p) => p !== EXPECTED_422)).toEqual([]);
    await context.close();
  });
});

describe('changing the model without JavaScript', () => {
  it('when a model is picked and the form is posted, then the browser lands on the staging Models tab with the flash and the new model; a refused one answers 422 with its checks', async () => {
    const { f, served, next, failing } = fixtures[1];
    const { context, page, problems } = await b.signedIn(stagingTab(f.name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    expect(await currentModel(page)).toBe(served.display_name);
    expect(await page.isVisible('#deploy-progress')).toBe(false);

    await page.check(`#m-${next.id}`);
    await Promise.all([
      page.waitForURL(`${b.baseUrl}${stagingTab(f.name)}`, { waitUntil: 'load' }),
      page.waitForResponse(POST_OF(f.name)),
      page.click('#change-model button:text-is("Deploy to staging")'),
    ]);
    await page.waitForSelector('.flash-success');
    expect(squash(await page.textContent('.flash-success'))).toBe(FLASH);
    expect(await currentModel(page)).toBe(next.display_name);
    expect(await page.getAttribute('#feature-panel nav.tabs a[aria-current="page"]', 'href')).toContain('tab=models');
    expect(squash(await page.textContent('nav.ranges[aria-label="Environment"] a[aria-current="page"]'))).toBe('Staging');
    expect(await activeIds(f.id)).toEqual([next.id]);
    await shotOf(page, 'models-change-nojs');

    await page.check(`#m-${failing.id}`);
    const [refused] = await Promise.all([
      page.waitForResponse(POST_OF(f.name)),
      page.click('#change-model button:text-is("Deploy to staging")'),
    ]);
    expect(refused.status()).toBe(422);
    await page.waitForSelector('#deployment-result');
    expect(squash(await page.textContent('#deployment-result ol.checks li.tone-bad'))).toBe(
      'smoke: smoke request failed: the provider answered 503',
    );
    expect(await currentModel(page)).toBe(next.display_name);
    expect(await activeIds(f.id)).toEqual([next.id]);
    await shotOf(page, 'models-refused-nojs');
    expect(problems.filter((p) => p !== EXPECTED_422)).toEqual([]);
    await context.close();
  });
});
