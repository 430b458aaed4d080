import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp } from '../setup/app.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, suffix } from '../setup/factories.ts';
import type { FeatureRecord, ModelRecord } from '../setup/rows.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The Testing tab's playground in a real browser (issue 16): a message sent to production's model,
// the answer shown in the tab — swapped in place with JavaScript, a plain form post without.

const FEATURES = '/platform/ai-management/features';

let b: BrowserApp;
const fixtures: { feature: FeatureRecord; model: ModelRecord }[] = [];

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  for (let i = 0; i < 2; i++) {
    const feature = await makeFeature(t.db, { display_name: `Testing ${suffix()}` });
    const model = await makeModel(t.db, { name: `e2e-${suffix()}` });
    await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, assigned_by: 'e2e' });
    fixtures.push({ feature, model });
  }
});
afterAll(() => b?.close());

const tab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'testing' })}`;
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

async function story(page: Page, model: ModelRecord, settled: (action: Promise<unknown>) => Promise<unknown>) {
  await page.selectOption('#playground-target', 'env:production');
  await page.fill('#playground-message', 'Reply with ok');
  await settled(page.click('#playground-form button[type="submit"]'));
  await page.waitForSelector('#playground-output');
  expect(squash(await page.textContent('#playground-output'))).toBe('ok');
  expect(squash(await page.textContent('#playground-result-heading'))).toBe(`Answer · ${model.display_name}`);
  expect(squash(await page.textContent('#playground-facts'))).toMatch(/^Latency \d+ ms Tokens 8 in, 1 out Cost \$0\.00001 Event id test-/);
  // The form keeps what was sent.
  expect(await page.inputValue('#playground-message')).toBe('Reply with ok');
}

describe('the playground with JavaScript', () => {
  it('when a message is sent, then the answer is swapped into the tab without a reload', async () => {
    const { feature, model } = fixtures[0];
    const { context, page, problems } = await b.signedIn(tab(feature.name));
    expect(await page.getAttribute('html', 'class')).toBe('js');
    await markNoReload(page);
    const answer = () => page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/playground'));
    await story(page, model, (action) => Promise.all([answer(), action]));
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the playground without JavaScript', () => {
  it('when a message is sent, then the form posts and the page shows the answer', async () => {
    const { feature, model } = fixtures[1];
    const { context, page, problems } = await b.signedIn(tab(feature.name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    await story(page, model, (action) => Promise.all([page.waitForEvent('load'), action]));
    expect(problems).toEqual([]);
    await context.close();
  });
});
