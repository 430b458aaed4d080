import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../setup/factories.ts';
import type { ModelRecord } from '../setup/rows.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { insertUsage, MINUTE, modelRef, type UsageEvent } from '../setup/usage-factory.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// Models & providers in a real browser (issue 6): the Providers and Models tabs, a provider's page and
// the compare page (screenshots), live search and sort through htmx without a reload, tab switching,
// and the same filters without JavaScript. The app runs on a database of this file's own, so the
// catalogue holds exactly the reference data and the models below.

const CATALOGUE = '/platform/ai-management/models';

let b: BrowserApp;
let dropDatabase: () => Promise<void>;
let models: Record<'alpha' | 'beta' | 'quill', ModelRecord>;

/** Acme (active, keyed) with three models and 11 requests over the last 20 hours of a feature they serve. */
async function seedCatalogue(t: TestContext) {
  const acme = await makeProvider(t.db, {
    name: 'acme',
    display_name: 'Acme AI',
    base_url: 'https://api.acme.example/v1',
    status: 'active',
    key: `sk-live-${suffix()}${suffix()}-e2e1`,
  });
  const model = (fields: Partial<ModelRecord>) => makeModel(t.db, { provider_id: acme.id, ...fields });
  models = {
    alpha: await model({ name: 'zephyr-alpha-v2', display_name: 'Zephyr Alpha', input_price_per_1k: 0.5, output_price_per_1k: 1 }),
    beta: await model({ name: 'zephyr-beta-v1', display_name: 'Zephyr Beta', input_price_per_1k: 0.2, output_price_per_1k: 0.4 }),
    quill: await model({ name: 'acme/ql-7b', display_name: 'Quill', status: 'beta', input_price_per_1k: 0.1, output_price_per_1k: 0.2 }),
  };
  const f = await makeFeature(t.db, { display_name: 'Support bot (e2e)' });
  await makeAssignment(t.db, { feature_id: f.id, model_id: models.alpha.id, environment: 'production' });
  // Alpha: 2 requests; Beta: 5 (so usage order differs from name order); Quill: 4 with one error. Over the last 20 hours.
  const events: UsageEvent[] = [];
  const now = Date.now();
  const add = (m: ModelRecord, n: number, extra: (i: number) => Partial<UsageEvent> = () => ({})) => {
    for (let i = 0; i < n; i++)
      events.push({
        feature_id: f.id,
        model: modelRef(m, acme),
        created_at: new Date(now - (10 + events.length * 53) * MINUTE),
        response_time_ms: 200 + i * 150,
        ...extra(i),
      });
  };
  add(models.alpha, 2);
  add(models.beta, 5);
  add(models.quill, 4, (i) => (i === 1 ? { status: 'error' } : {}));
  await insertUsage(t.db, events);
}

beforeAll(async () => {
  const own = await ownSeededDatabase('cate2e');
  dropDatabase = own.drop;
  const t = startTestApp({ databaseUrl: own.url }, own.db);
  b = await openBrowserApp(t);
  await seedCatalogue(t);
});
afterAll(async () => {
  await b?.close();
  await dropDatabase?.();
});

const shotOf = (page: Page, name: string) => shot(page, `catalogue-${name}`);
const cards = (page: Page) => page.$$eval('#model-cards li.model-card', (lis) => lis.map((li) => li.getAttribute('data-model')));
const query = (page: Page) => Object.fromEntries(new URL(page.url()).searchParams);

/** Waits until the model cards are exactly these (htmx swaps them in after its delay). */
async function cardsBecome(page: Page, expected: string[]) {
  await page.waitForFunction(
    (names) =>
      JSON.stringify([...document.querySelectorAll('#model-cards li.model-card')].map((li) => li.getAttribute('data-model'))) ===
      JSON.stringify(names),
    expected,
  );
}

describe('the catalogue with JavaScript', () => {
  it('when the tabs are used, then htmx swaps the tab in place, the URL names it, and nothing reloads', async () => {
    const { context, page, problems } = await b.signedIn(CATALOGUE);
    expect(await page.getAttribute('html', 'class')).toBe('js');
    const providerNames: string[] = await b.t.db('ai_providers').orderBy('display_name').pluck('name');
    expect(await page.$$eval('#provider-cards li.provider-card', (lis) => lis.map((li) => li.getAttribute('data-provider')))).toEqual(
      providerNames,
    );
    expect(await page.textContent('#provider-stats [data-stat="active"]')).toBe('2'); // the simulator and Acme
    expect(await page.textContent('li.provider-card[data-provider="acme"] [data-health]')).not.toBe('no data');
    await shotOf(page, 'providers');
    await markNoReload(page);

    // Tab switch through htmx: the section is swapped and the URL names the tab.
    await page.click('#catalogue-tab nav.tabs a:text-is("Models")');
    await page.waitForURL((u) => u.searchParams.get('tab') === 'models');
    await page.waitForSelector('#catalogue-tab nav.tabs a[aria-current="page"]:text-is("Models")');
    await page.waitForSelector('#model-cards');
    expect(await noReloadMark(page)).toBe(1);
    const total = Number((await b.t.db('ai_models').count({ n: '*' }).first())!.n);
    expect((await cards(page)).length).toBe(total);
    await shotOf(page, 'models');

    // Back to the Providers tab through htmx.
    await page.click('#catalogue-tab nav.tabs a:text-is("Providers")');
    await page.waitForSelector('#provider-cards');
    expect(new URL(page.url()).searchParams.get('tab')).toBeNull();
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when live search, sort and filters are used, then htmx swaps the cards in place, the URL follows, the count follows out of band, and nothing reloads', async () => {
    const { context, page, problems } = await b.signedIn(`${CATALOGUE}?tab=models`);
    await markNoReload(page);
    // Live search: typing narrows the cards; the URL carries q=.
    await page.locator('form.filters input[name="q"]').pressSequentially('ZEPHYR', { delay: 40 });
    await cardsBecome(page, ['zephyr-alpha-v2', 'zephyr-beta-v1']);
    await page.waitForURL((u) => u.searchParams.get('q') === 'ZEPHYR');
    expect(await noReloadMark(page)).toBe(1);
    expect(await page.inputValue('form.filters input[name="q"]')).toBe('ZEPHYR'); // the box was not swapped away

    // Sort by usage: Beta (5 requests) before Alpha (2).
    await page.selectOption('form.filters select[name="sort"]', 'usage');
    await cardsBecome(page, ['zephyr-beta-v1', 'zephyr-alpha-v2']);
    await page.waitForURL((u) => u.searchParams.get('sort') === 'usage');
    expect(query(page)).toMatchObject({ tab: 'models', q: 'ZEPHYR', sort: 'usage' });
    expect(await noReloadMark(page)).toBe(1);

    // A search by model id with a status filter.
    await page.fill('form.filters input[name="q"]', 'ql-7b');
    await page.selectOption('form.filters select[name="status"]', 'beta');
    await cardsBecome(page, ['acme/ql-7b']);
    await page.waitForURL((u) => u.searchParams.get('status') === 'beta' && u.searchParams.get('q') === 'ql-7b');
    // Nothing matches: the message.
    await page.fill('form.filters input[name="q"]', 'no-such-model');
    await page.waitForSelector('#model-results p.empty');
    expect((await page.textContent('#model-results p.empty'))?.trim()).toMatch(/^No model matches these filters\./);
    // The count, outside the results (a live region), followed through the out-of-band swap.
    expect((await page.textContent('#model-count'))?.trim()).toMatch(/^0 of \d+ models matching “no-such-model”/);
    expect(await page.locator('#model-count').count()).toBe(1);
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("when a provider's Manage button is pressed, then its page shows its key hint, its figures and the hour-by-hour table", async () => {
    const { context, page, problems } = await b.signedIn(CATALOGUE);
    await Promise.all([
      page.waitForURL(`${b.baseUrl}/platform/ai-management/providers/acme`),
      page.click('li.provider-card[data-provider="acme"] a.button'),
    ]);
    await page.waitForSelector('#health-history tbody tr');
    expect(await page.textContent('[data-key-hint]')).toMatch(/^••••[\w-]{4}$/);
    expect(await page.locator('#health-history tbody tr').count()).toBe(25);
    expect(await page.textContent('#provider-health [data-metric="requests"]')).toBe('11');
    expect(await page.textContent('#score-explained [data-formula]')).toMatch(
      /^0\.5 × [\d.]+ \+ 0\.3 × [\d.]+ \+ 0\.2 × [\d.]+ = [\d.]+\.$/,
    );
    await shotOf(page, 'provider');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when two models are ticked on the Models tab and "Compare selected" is pressed, then the compare page shows them side by side', async () => {
    const { context, page, problems } = await b.signedIn(`${CATALOGUE}?tab=models&provider=acme`);
    await page.waitForSelector('#model-cards');
    const ids = await page.$$eval('#model-cards li.model-card input[type="checkbox"][name="ids"]', (inputs) =>
      inputs.map((i) => (i as HTMLInputElement).value),
    );
    expect(ids).toHaveLength(3);
    // In the order of the cards (by name: Quill, then Zephyr Beta), as the form sends them.
    const picked = ids.filter((id) => id === models.beta.id || id === models.quill.id);
    expect(picked).toEqual([models.quill.id, models.beta.id]);
    for (const id of picked) await page.check(`#model-cards input[name="ids"][value="${id}"]`);
    await Promise.all([
      page.waitForURL((u) => u.pathname === `${CATALOGUE}/compare`),
      page.click('#model-results button:text-is("Compare selected (2–4)")'),
    ]);
    expect(new URL(page.url()).searchParams.getAll('ids')).toEqual(picked);
    await page.waitForSelector('#comparison');
    expect(await page.$$eval('#comparison thead th[data-model]', (ths) => ths.map((th) => th.getAttribute('data-model')))).toEqual(picked);
    expect(await page.textContent(`#comparison tr[data-row="total_requests"] td[data-model="${models.beta.id}"]`)).toBe('5');
    expect(await page.textContent(`#comparison tr[data-row="total_requests"] td[data-model="${models.quill.id}"]`)).toBe('4');
    // Names read as written ("GPT-4o mini", not "GPT-4O MINI"): innerText is the text as displayed.
    const names = await page.$$eval('#comparison thead th[data-model] a', (as) =>
      // biome-ignore lint/performance/useDomNodeTextContent: the text as CSS displays it is the point
      as.map((a) => [(a as HTMLElement).innerText, a.textContent]),
    );
    for (const [shown, written] of names) expect(shown).toBe(written);

    // A range link swaps the results and the picker together: the picker's range follows the one shown.
    await page.click('#compare-results nav.ranges a:text-is("7 days")');
    await page.waitForURL((u) => u.searchParams.get('range') === '7d');
    await page.waitForSelector('#compare-results nav.ranges a[aria-current="page"]:text-is("7 days")');
    expect(await page.$eval('#compare-picker select[name="range"]', (s) => (s as HTMLSelectElement).value)).toBe('7d');
    await shotOf(page, 'compare');
    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the catalogue without JavaScript', () => {
  it('when the same filters are applied with the Apply button, then the page reloads with them in the URL and shows the same cards as live search', async () => {
    const filters = { q: 'zephyr', provider: 'acme', status: 'available', sort: 'usage' };

    // With JavaScript, through live search.
    const js = await b.signedIn(`${CATALOGUE}?tab=models`);
    await js.page.fill('form.filters input[name="q"]', filters.q);
    await js.page.selectOption('form.filters select[name="provider"]', filters.provider);
    await js.page.selectOption('form.filters select[name="status"]', filters.status);
    await js.page.selectOption('form.filters select[name="sort"]', filters.sort);
    await cardsBecome(js.page, ['zephyr-beta-v1', 'zephyr-alpha-v2']);
    await js.page.waitForURL((u) => u.searchParams.get('sort') === 'usage' && u.searchParams.get('status') === 'available');
    const withJs = await cards(js.page);
    expect(js.problems).toEqual([]);
    await js.context.close();

    // Without: the noscript Apply button submits the plain GET form.
    const { context, page, problems } = await b.signedIn(`${CATALOGUE}?tab=models`, { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    expect((await cards(page)).length).toBeGreaterThan(3);
    await page.fill('form.filters input[name="q"]', filters.q);
    await page.selectOption('form.filters select[name="provider"]', filters.provider);
    await page.selectOption('form.filters select[name="status"]', filters.status);
    await page.selectOption('form.filters select[name="sort"]', filters.sort);
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('q') === filters.q, { waitUntil: 'load' }),
      page.click('form.filters button:text-is("Apply")'),
    ]);
    expect(query(page)).toMatchObject({ tab: 'models', ...filters });
    expect(await cards(page)).toEqual(withJs);
    expect(await page.inputValue('form.filters input[name="q"]')).toBe(filters.q);
    expect(await page.inputValue('form.filters select[name="sort"]')).toBe('usage');
    await shotOf(page, 'models-nojs');

    // Tabs are plain links without JavaScript.
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('tab') === 'deployments', { waitUntil: 'load' }),
      page.click('#catalogue-tab nav.tabs a:text-is("Deployments")'),
    ]);
    expect(await page.textContent('#catalogue-tab nav.tabs a[aria-current="page"]')).toBe('Deployments');
    expect(problems).toEqual([]);
    await context.close();
  });
});
