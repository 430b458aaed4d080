import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activatePrompt, plannedActivation } from '../../src/services/prompt-activation.ts';
import { savePromptVersion } from '../../src/services/prompt-versions.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, suffix } from '../setup/factories.ts';
import type { FeatureRecord, ModelRecord } from '../setup/rows.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The Prompts tab in a real browser (issue 15): write version 2 from the form prefilled with version 1,
// see its diff, activate it in staging, promote it to production — with JavaScript (htmx swaps the
// panel in place) and without (plain forms, 303s). Features and simulator models of this file's own.

const FEATURES = '/platform/ai-management/features';
const SYSTEM = { kind: 'system', label: 'e2e' } as const;

let b: BrowserApp;
let fixtures: { feature: FeatureRecord; model: ModelRecord }[] = [];

/** A feature served everywhere by a model of its own, with version 1 active in every environment. */
async function fixture(t: TestContext) {
  const feature = await makeFeature(t.db, { display_name: `Prompts ${suffix()}` });
  const model = await makeModel(t.db, { name: `e2e-${suffix()}` });
  for (const environment of ['development', 'staging', 'production'] as const)
    await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, environment, assigned_by: 'e2e' });
  await savePromptVersion(t.db, SYSTEM, feature, { template: 'Answer {{question}}', sample_values: { question: 'Why?' } });
  for (const environment of ['development', 'staging', 'production'] as const) {
    const outcome = await activatePrompt(
      t.db,
      t.app.providers,
      SYSTEM,
      feature,
      await plannedActivation(t.db, feature, { version: 1, environment }),
    );
    expect(outcome.ok).toBe(true);
  }
  return { feature, model };
}

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  fixtures = [await fixture(t), await fixture(t)];
});
afterAll(() => b?.close());

const tab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'prompts' })}`;
const shotOf = (page: Page, name: string) => shot(page, name, { caret: 'initial' });
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();
const activeIn = async (page: Page, environment: string) =>
  squash(await page.textContent(`#prompt-environments tr[data-prompt-environment="${environment}"] td`));

/** Writes v2, reads its diff, activates it in staging and promotes it; `settled` waits for each answer (a swap or a page load). */
async function story(page: Page, settled: (action: Promise<unknown>, method?: string) => Promise<unknown>) {
  await page.click('#new-prompt-version summary');
  expect(await page.inputValue('#prompt-template')).toBe('Answer {{question}}');
  await page.fill('#prompt-template', 'Answer {{question}}\nBe concise.');
  await page.fill('#prompt-note', 'concise');
  // Preview first: the variables and the rendered template, nothing saved, the form kept.
  await settled(page.click('#new-prompt-version button:text-is("Preview")'));
  await page.waitForSelector('#prompt-preview');
  expect(squash(await page.textContent('#preview-rendered'))).toBe('Answer Why? Be concise.');
  expect(await page.inputValue('#prompt-template')).toBe('Answer {{question}}\nBe concise.');
  await settled(page.click('#new-prompt-version button:text-is("Save as a new version")'));
  await page.waitForSelector('#template-diff ins');
  expect(squash(await page.textContent('#feature-panel .flash-success, .flash-success'))).toBe('Saved as version 2.');
  expect(await page.locator('#template-diff ins').allTextContents()).toEqual(['Be concise.']);
  expect(new URL(page.url()).searchParams.get('from')).toBe('1');
  expect(new URL(page.url()).searchParams.get('to')).toBe('2');

  await page.selectOption('#activate-env-2', 'staging');
  await page.fill('#activate-reason-2', 'try it in staging');
  await settled(page.click('#prompt-versions tr[data-version="2"] button[type="submit"]'));
  await page.waitForSelector('.flash-success:text("Version 2 is active in staging")');
  expect(await activeIn(page, 'staging')).toBe('Version 2');
  expect(await activeIn(page, 'production')).toBe('Version 1');

  await settled(page.click('#prompt-environments button:text-is("Promote v2 to production")'));
  await page.waitForSelector('.flash-success:text("Version 2 is active in production")');
  expect(await activeIn(page, 'production')).toBe('Version 2');
  const history = await page.locator('#prompt-history tbody tr td:nth-child(3)').allTextContents();
  expect(history.slice(0, 2).map(squash)).toEqual(['promote v1 → v2', 'activate v1 → v2']);

  // Any two versions compared from the GET form: the diff at a URL of its own.
  await page.selectOption('#diff-from', '2');
  await page.selectOption('#diff-to', '1');
  await settled(page.click('#compare-versions button[type="submit"]'), 'GET');
  await page.waitForSelector('#template-diff del');
  expect(await page.locator('#template-diff del').allTextContents()).toEqual(['Be concise.']);
  expect(query(page)).toMatchObject({ tab: 'prompts', from: '2', to: '1' });
}
const query = (page: Page) => Object.fromEntries(new URL(page.url()).searchParams);

describe('the Prompts tab with JavaScript', () => {
  it('when v2 is written, diffed, activated in staging and promoted, then each answer is swapped into the panel in place', async () => {
    const { feature: f, model } = fixtures[0];
    const { context, page, problems } = await b.signedIn(tab(f.name));
    expect(await page.getAttribute('html', 'class')).toBe('js');
    await markNoReload(page);
    const answer = (method: string) => page.waitForResponse((r) => r.request().method() === method && r.url().includes('/features'));
    await story(page, (action, method = 'POST') => Promise.all([answer(method), action]));
    expect(await noReloadMark(page)).toBe(1);
    await shotOf(page, 'prompts-js');

    // A refused activation (the model fails its smoke request): the 422 is swapped in with its checks, nothing moves.
    (await b.t.app.providers.simulator()).configure(model.name, { errorRate: 1 });
    await page.selectOption('#activate-env-2', 'development');
    const [refused] = await Promise.all([answer('POST'), page.click('#prompt-versions tr[data-version="2"] button[type="submit"]')]);
    expect(refused.status()).toBe(422);
    await page.waitForSelector('#deployment-result');
    const checks = await page.locator('#deployment-result ol.checks li').allTextContents();
    expect(checks.map(squash)).toEqual([
      expect.stringMatching(/^render: renders/),
      expect.stringMatching(/^context: about \d+ prompt tokens/),
      'smoke: smoke request failed: the provider answered 503',
    ]);
    expect(await activeIn(page, 'development')).toBe('Version 1');
    expect(await noReloadMark(page)).toBe(1);
    expect(problems.filter((p) => !p.includes('status of 422'))).toEqual([]);
    await context.close();
  });
});

describe('the Prompts tab without JavaScript', () => {
  it('when v2 is written, diffed, activated in staging and promoted, then each form posts, redirects and shows the tab again', async () => {
    const { feature: f } = fixtures[1];
    const { context, page, problems } = await b.signedIn(tab(f.name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    await story(page, (action) => Promise.all([page.waitForEvent('load'), action]));
    await shotOf(page, 'prompts-nojs');
    // At 390 px, with versions, history and a diff: nothing needs sideways scrolling.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${b.baseUrl}${tab(f.name)}&from=1&to=2`);
    const wide = await page.evaluate(() =>
      [document.documentElement, ...document.querySelectorAll('#prompts-tab .table-wrap')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1)
        .map((el) => el.querySelector('table')?.id ?? 'the page'),
    );
    expect(wide).toEqual([]);
    await shotOf(page, 'prompts-390');
    expect(problems).toEqual([]);
    await context.close();
  });
});
