import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeFeature } from '../setup/factories.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The Settings tab's form in Chromium, with JavaScript (htmx swaps the panel in place) and without
// (a plain POST: 422 with the page again, 303 to the tab): a refused save shows the message on the
// field, a good one the new values; axe finds nothing serious either way.

let b: BrowserApp;
beforeAll(async () => {
  b = await openBrowserApp(startTestApp());
});
afterAll(() => b?.close());

const settingsUrl = (slug: string) => `/platform/ai-management/features?${new URLSearchParams({ feature: slug, tab: 'settings' })}`;

const EXPECTED_422 = 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)';
const FIELD = '#settings-error_rate_threshold';

/** Types a threshold and saves the settings form: the POST's status, once its answer is shown. */
async function saveThreshold(page: Page, slug: string, value: string): Promise<number> {
  await page.fill(FIELD, value);
  const [answer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/${slug}/settings`)),
    page.click('#settings-form button[type="submit"]'),
  ]);
  await page.waitForSelector(answer.status() === 422 ? `${FIELD}-error` : '.flash-success');
  return answer.status();
}

describe('the Settings tab in a browser', () => {
  it.each([
    ['with JavaScript', true],
    ['without JavaScript', false],
  ])('%s: a refused save shows the message on the field, a good save the new value and the flash', async (_how, js) => {
    const f = await makeFeature(b.t.db);
    const { context, page, problems } = await b.signedIn(settingsUrl(f.name), { javaScriptEnabled: js });
    if (js) await markNoReload(page);

    expect(await saveThreshold(page, f.name, '150')).toBe(422);
    expect(await page.textContent(`${FIELD}-error`)).toBe('Error-rate threshold must be a percentage above 0 and at most 100');
    expect(await page.getAttribute(FIELD, 'aria-invalid')).toBe('true');
    expect(await page.inputValue(FIELD)).toBe('150');
    // Hiding the caret would leave style="" on the inputs, which htmx then copies onto the swapped ones (refused by the CSP).
    await shot(page, `settings-refused-${js ? 'js' : 'nojs'}`, { caret: 'initial' });

    expect(await saveThreshold(page, f.name, '2.5')).toBe(js ? 200 : 303);
    await page.waitForURL((u) => u.searchParams.get('tab') === 'settings', { waitUntil: 'load' });
    expect(await page.textContent('.flash-success')).toContain('Saved: error-rate threshold.');
    expect(await page.inputValue(FIELD)).toBe('2.5');
    expect(await page.locator(`${FIELD}-error`).count()).toBe(0);
    expect(new URL(page.url()).search).toBe(new URL(settingsUrl(f.name), b.baseUrl).search);
    if (js) expect(await noReloadMark(page)).toBe(1);
    expect((await b.t.db('ai_features').where({ id: f.id }).first())!.error_rate_threshold).toBe(2.5);
    expect(problems.filter((p) => p !== EXPECTED_422)).toEqual([]);
    await context.close();
  });

  it('when the tab is shown, refused and saved, then axe finds no serious or critical violation at 390 px', async () => {
    const f = await makeFeature(b.t.db);
    const { context, page, problems } = await b.signedIn(settingsUrl(f.name), { viewport: { width: 390, height: 844 } });
    expect(await seriousViolations(page)).toEqual([]);
    await saveThreshold(page, f.name, '-1');
    expect(await seriousViolations(page)).toEqual([]);
    await saveThreshold(page, f.name, '4');
    expect(await seriousViolations(page)).toEqual([]);
    await shot(page, 'settings-390');
    expect(problems.filter((p) => p !== EXPECTED_422)).toEqual([]);
    await context.close();
  });
});
