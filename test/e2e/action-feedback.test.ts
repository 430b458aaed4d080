import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, openBrowserApp, shot } from '../setup/browser.ts';
import { apiKey, makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../setup/factories.ts';
import { CHAT_COMPLETION, type FakeProvider, fakeProvider, gate, MODEL_LIST } from '../setup/fake-provider.ts';

// A browser sharing 2 cores with PostgreSQL and other files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// Issue 13 items 1, 9, 10 and 11 in Chromium: while an action runs its button is disabled and says so,
// the region it replaces is marked busy, the result lands in view with the focus, a refused choice stays
// chosen, a request that cannot reach the server says so, and a refused form's error summary is focused.

const FEATURES = '/platform/ai-management/features';
const EXPECTED_422 = 'console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)';
const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

let b: BrowserApp;
const fakes: FakeProvider[] = [];
beforeAll(async () => {
  b = await openBrowserApp(startTestApp());
});
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  await b?.close();
});

/** A provider at a local fake whose answers (after the first `free` ones) wait for the test to open the gate. */
async function gatedProvider(free = 0) {
  const g = gate();
  let seen = 0;
  const fake = await fakeProvider((req, res) => {
    seen += 1;
    const body = req.url?.endsWith('/models') ? MODEL_LIST : CHAT_COMPLETION;
    void (seen <= free ? Promise.resolve() : g.opened).then(() => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(body));
    });
  });
  fakes.push(fake);
  const provider = await makeProvider(b.t.db, { base_url: fake.url, status: 'active', key: apiKey() });
  return { provider, fake, open: g.open };
}

/** Whether the element is focused and wholly inside the viewport. */
const focusedInView = (page: Page, selector: string) =>
  page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    return { focused: document.activeElement === el, inView: r.top >= 0 && r.bottom <= window.innerHeight };
  });

const tab = (slug: string, environment: string) => `${FEATURES}?${new URLSearchParams({ feature: slug, tab: 'models', environment })}`;

describe('the Models tab with JavaScript', () => {
  it('when a deployment runs, then its button is disabled and says "Deploying…" and the panel is busy; the result is focused in view; a refused model stays chosen', async () => {
    const f = await makeFeature(b.t.db, { display_name: `Feedback ${suffix()}` });
    const served = await makeModel(b.t.db);
    await makeAssignment(b.t.db, { feature_id: f.id, model_id: served.id, environment: 'staging', assigned_by: 'e2e' });
    const { provider, fake, open } = await gatedProvider();
    const slow = await makeModel(b.t.db, { provider_id: provider.id });
    const failing = await makeModel(b.t.db);
    (await b.t.app.providers.simulator()).configure(failing.name, { errorRate: 1 });

    const { context, page, problems } = await b.signedIn(tab(f.name, 'staging'), { viewport: { width: 1000, height: 600 } });
    await page.check(`#m-${slow.id}`);
    const button = page.locator('#change-model button[type="submit"]');
    await button.scrollIntoViewIfNeeded();
    await button.click();
    await fake.received(1); // the smoke request is held: the deployment is under way
    expect(await button.isDisabled()).toBe(true);
    expect(squash(await button.textContent())).toBe('Deploying…');
    expect(await page.getAttribute('#change-model', 'aria-busy')).toBe('true');
    expect(await page.getAttribute('#feature-panel', 'aria-busy')).toBe('true');
    await shot(page, 'deploy-busy-js', { caret: 'initial' });
    open();
    await page.waitForSelector('#feature-panel .flash-success');
    await page.waitForFunction(() => document.activeElement?.classList.contains('flashes'));
    expect(await focusedInView(page, '#feature-panel .flashes')).toEqual({ focused: true, inView: true });

    // A refusal: the box is focused in view and the choice is kept.
    await page.check(`#m-${failing.id}`);
    await page.locator('#change-model button[type="submit"]').click();
    await page.waitForSelector('#deployment-result');
    await page.waitForFunction(() => document.activeElement?.id === 'deployment-result');
    expect(await focusedInView(page, '#deployment-result')).toEqual({ focused: true, inView: true });
    expect(await page.isChecked(`#m-${failing.id}`)).toBe(true);
    expect(await page.isEnabled('#change-model button[type="submit"]')).toBe(true);
    expect(problems.filter((p) => p !== EXPECTED_422)).toEqual([]);
    await context.close();
  });

  it('when "Roll back to this" is clicked, then the confirmation replaces it in place with its Confirm button focused; confirmed, it rolls back', async () => {
    const f = await makeFeature(b.t.db);
    const [first, second] = [await makeModel(b.t.db), await makeModel(b.t.db)];
    await makeAssignment(b.t.db, { feature_id: f.id, model_id: first.id, environment: 'staging', assigned_by: 'e2e', is_active: false });
    await makeAssignment(b.t.db, { feature_id: f.id, model_id: second.id, environment: 'staging', assigned_by: 'e2e' });
    const { context, page, problems } = await b.signedIn(tab(f.name, 'staging'), { viewport: { width: 1000, height: 600 } });
    await page.locator('#assignment-history button:text-is("Roll back to this")').click();
    await page.waitForSelector('#confirmation');
    expect(squash(await page.textContent('#confirmation-title'))).toBe(`Roll back ${f.display_name} in staging?`);
    await page.waitForFunction(() => document.activeElement?.closest('#confirmation') !== null);
    expect(await focusedInView(page, '#confirmation button[type="submit"]')).toEqual({ focused: true, inView: true });
    expect(await b.t.db('deployments').where({ feature_id: f.id })).toEqual([]);
    expect(await seriousViolations(page)).toEqual([]);
    await shot(page, 'rollback-confirmation-js', { caret: 'initial' });
    await page.click('#confirmation button[type="submit"]');
    await page.waitForSelector('#feature-panel .flash-success');
    expect(squash(await page.textContent('#current-model strong'))).toBe(first.display_name);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when the server cannot be reached, then a visible message says so beside the link that was clicked', async () => {
    const f = await makeFeature(b.t.db);
    const { context, page, problems } = await b.signedIn(tab(f.name, 'staging'));
    await page.route('**/features?*', (route) =>
      route.request().headers()['hx-request'] ? route.abort('internetdisconnected') : route.continue(),
    );
    await page.click('nav.ranges[aria-label="Environment"] a:text-is("Production")');
    const message = page.locator('.request-failed');
    await message.waitFor({ state: 'visible' });
    expect(squash(await message.textContent())).toBe('Could not reach the server — try again.');
    expect(await message.getAttribute('role')).toBe('alert');
    expect(await page.getAttribute('nav.ranges[aria-label="Environment"] a:text-is("Production")', 'aria-busy')).toBeNull();
    await shot(page, 'unreachable-js', { caret: 'initial' });
    // Chromium's line for the aborted request, and htmx's own log of the failure.
    expect(problems.every((p) => p.includes('ERR_INTERNET_DISCONNECTED') || p.includes('htmx:error'))).toBe(true);
    await context.close();
  });
});

describe('"Test connection" to a provider that hangs', () => {
  it('when clicked, then the button is disabled and says "Testing…" and the old result is gone until the answer', async () => {
    const { provider, fake, open } = await gatedProvider(1);
    const { context, page, problems } = await b.signedIn(`/platform/ai-management/providers/${provider.name}`);
    // A first test, answered at once, leaves its result (a flash) on the page: the old result.
    const csrf = await page.getAttribute('meta[name="csrf-token"]', 'content');
    await page.request.post(`${b.baseUrl}/platform/ai-management/providers/${provider.name}/test`, {
      form: { _csrf: csrf! },
      maxRedirects: 0,
    });
    await page.reload();
    await page.waitForSelector('.flashes .flash-success');
    await page.locator('#test-connection button').click();
    await fake.received(2);
    await page.waitForFunction(() => document.querySelector('#test-connection button')?.hasAttribute('disabled'));
    expect(squash(await page.locator('#test-connection button').textContent())).toBe('Testing…');
    expect(await page.isHidden('.flashes')).toBe(true);
    open();
    await page.waitForSelector('.flashes:not([hidden]) .flash-success');
    expect(await page.isEnabled('#test-connection button')).toBe(true);
    expect(await page.$$('.flashes')).toHaveLength(1);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe("a plain form (the model page's Deploy) while its request runs", () => {
  it('when submitted, then its button is disabled and says "Deploying…" until the next page arrives', async () => {
    const { provider, fake, open } = await gatedProvider();
    const model = await makeModel(b.t.db, { provider_id: provider.id });
    const f = await makeFeature(b.t.db, { display_name: `Plain deploy ${suffix()}` });
    const { context, page, problems } = await b.signedIn(`/platform/ai-management/models/${model.id}/deploy`);
    await page.selectOption('#deploy-feature', f.name);
    await page.selectOption('#deploy-environment', 'staging');
    // Playwright cannot read a page whose navigation is under way: the page writes down what its button
    // shows as it changes (sessionStorage outlives the navigation) and the test reads it on the next page.
    await page.$eval('#deploy-form button[type="submit"]', (button) => {
      new MutationObserver(() => {
        const seen = JSON.parse(sessionStorage.getItem('seen') ?? '[]');
        seen.push([(button as HTMLButtonElement).disabled, button.textContent]);
        sessionStorage.setItem('seen', JSON.stringify(seen));
      }).observe(button, { attributes: true, childList: true, characterData: true, subtree: true });
      (button as HTMLButtonElement).click();
    });
    await fake.received(1);
    open();
    await page.waitForURL('**/deployments/*');
    expect(await page.evaluate(() => JSON.parse(sessionStorage.getItem('seen') ?? '[]'))).toContainEqual([true, 'Deploying…']);
    expect(await b.t.db('feature_model_assignments').where({ feature_id: f.id, is_active: true }).select('model_id')).toEqual([
      { model_id: model.id },
    ]);
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('a refused "Add a model" (issue 13 item 10)', () => {
  for (const javaScriptEnabled of [false, true]) {
    it(`when submitted empty ${javaScriptEnabled ? 'with' : 'without'} JavaScript, then the error summary is focused in view and links to the fields`, async () => {
      const { context, page } = await b.signedIn('/platform/ai-management/models?tab=models', {
        javaScriptEnabled,
        viewport: { width: 1000, height: 700 },
      });
      await page.click('#add-model summary');
      await page.fill('#model-name', '');
      await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#add-model button[type="submit"]')]);
      await page.waitForSelector('#model-error-summary');
      await page.waitForFunction(() => document.activeElement?.id === 'model-error-summary');
      expect(await focusedInView(page, '#model-error-summary')).toEqual({ focused: true, inView: true });
      expect(squash(await page.textContent('#model-error-summary h2'))).toBe('There is a problem');
      // axe runs in the page, so with JavaScript only (the markup is the same).
      if (javaScriptEnabled) expect(await seriousViolations(page)).toEqual([]);
      await shot(page, `error-summary-${javaScriptEnabled ? 'js' : 'nojs'}`, { caret: 'initial' });
      await page.click('#model-error-summary a[href="#model-name"]');
      expect(await page.evaluate(() => location.hash)).toBe('#model-name');
      await context.close();
    });
  }
});
