import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeFeature, suffix } from '../setup/factories.ts';
import type { FeatureRecord } from '../setup/rows.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The Testing tab's test cases in a real browser (issue 16): a case added from the form — swapped in
// place with JavaScript, a plain form post without — then listed in words, accessible, usable at 390 px.

const FEATURES = '/platform/ai-management/features';

let b: BrowserApp;
const features: FeatureRecord[] = [];

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  for (let i = 0; i < 3; i++) features.push(await makeFeature(t.db, { display_name: `Cases ${suffix()}` }));
});
afterAll(() => b?.close());

const tab = (slug: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'testing' })}`;
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

async function addCase(page: Page, settled: (action: Promise<unknown>) => Promise<unknown>) {
  // No case yet: the add form is open, and the empty state says what to do.
  expect(squash(await page.textContent('#test-cases-empty'))).toMatch(/^No test cases yet\. Add one below/);
  await page.fill('#case-new-name', 'Says ok');
  await page.fill('#case-new-message', 'Reply with ok');
  await page.fill('#case-new-assertions', 'contains ok\nlatency <= 5000');
  await page.check('#case-new-critical');
  await settled(page.click('#add-test-case button[type="submit"]'));
  await page.waitForSelector('#test-cases-table');
  expect(squash(await page.textContent('#test-cases-table tbody tr'))).toMatch(
    /^Says ok user: “Reply with ok” contains “ok”\s?answers within 5,000 ms critical 1 of 1/,
  );
  expect(squash(await page.textContent('.flash'))).toContain('Test case “Says ok” added.');
}

/** The response to the next POST whose URL ends so. */
const answer2 = (page: Page, end: string) => page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(end));

/** What needs sideways scrolling at the page's width: the page itself, or a table. */
const tooWide = (page: Page) =>
  page.evaluate(() => {
    const over = (el: Element) => el.scrollWidth > el.clientWidth + 1;
    return [document.documentElement, ...document.querySelectorAll('.table-wrap')].filter(over).map((el) => el.tagName);
  });

describe('adding a test case with JavaScript', () => {
  it('when the form is sent, then the list is swapped into the tab without a reload; at 390 px it is accessible and nothing scrolls sideways', async () => {
    const { context, page, problems } = await b.signedIn(tab(features[0].name), { viewport: { width: 390, height: 844 } });
    expect(await page.getAttribute('html', 'class')).toBe('js');
    await markNoReload(page);
    const answer = () => page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/test-cases'));
    await addCase(page, (action) => Promise.all([answer(), action]));
    expect(await noReloadMark(page)).toBe(1);
    expect(await tooWide(page)).toEqual([]);
    // (caret: 'initial': hiding the caret styles the inputs, which htmx would carry over into the next swap.)
    await shot(page, 'test-cases-390-js', { fullPage: true, caret: 'initial' });
    // Delete asks first, in place; the confirmation deletes.
    await Promise.all([answer2(page, '/delete'), page.click('#test-cases-table button.danger')]);
    expect(squash(await page.textContent('#confirmation-title'))).toBe('Delete the test case “Says ok”?');
    await Promise.all([answer2(page, '/delete'), page.click('#confirmation button[type="submit"]')]);
    await page.waitForSelector('#test-cases-empty');
    expect(await noReloadMark(page)).toBe(1);
    expect(await seriousViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('importing JSONL with JavaScript', () => {
  it('when a .jsonl file is chosen, then its text fills the textarea, and Import adds its cases', async () => {
    const { context, page, problems } = await b.signedIn(tab(features[2].name));
    const lines = [
      '{"name":"One","input":{"messages":[{"role":"user","content":"Hi"}]},"assertions":[{"type":"contains","value":"ok"}]}',
      '{"name":"Two","input":{"messages":[{"role":"user","content":"Yo"}]},"assertions":[{"type":"json"}]}',
    ];
    await page.click('#import-test-cases summary');
    await page.setInputFiles('#import-file', { name: 'cases.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n')) });
    await page.waitForFunction(() => (document.getElementById('import-jsonl') as HTMLTextAreaElement).value !== '');
    expect(await page.inputValue('#import-jsonl')).toBe(lines.join('\n'));
    await Promise.all([answer2(page, '/test-cases/import'), page.click('#import-test-cases button[type="submit"]')]);
    await page.waitForSelector('#test-cases-table');
    expect(await page.locator('#test-cases-table th[scope="row"]').allTextContents()).toEqual(['One', 'Two']);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('adding a test case without JavaScript', () => {
  it('when the form is posted, then the page shows the case', async () => {
    const { context, page, problems } = await b.signedIn(tab(features[1].name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    // The file chooser needs JavaScript: without, the import is a paste.
    await page.click('#import-test-cases summary');
    expect([await page.isVisible('#import-jsonl'), await page.isVisible('#import-file')]).toEqual([true, false]);
    await addCase(page, (action) => Promise.all([page.waitForEvent('load'), action]));
    // Edit in place: the case's form opens pre-filled; saving posts and the list shows the change.
    await page.click('#test-cases-table summary');
    const id = await page.getAttribute('#test-cases-table tbody tr form.case-form', 'action');
    const prefix = `#case-${id?.split('/').pop()}-`;
    expect(await page.inputValue(`${prefix}assertions`)).toBe('contains ok\nlatency <= 5000');
    await page.fill(`${prefix}name`, 'Says ok, edited');
    await shot(page, 'test-cases-edit-no-js', { fullPage: true, caret: 'initial' });
    await Promise.all([page.waitForEvent('load'), page.click(`${prefix}name >> xpath=ancestor::form//button[@type="submit"]`)]);
    expect(squash(await page.textContent('#test-cases-table th[scope="row"]'))).toBe('Says ok, edited');
    expect(problems).toEqual([]);
    await context.close();
  });
});
