import fs from 'node:fs';
import type { Server } from 'node:http';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { launchBrowser, listen, signedIn as signInAs } from '../setup/browser.ts';
import { makeFeature, makeToken, makeUser, suffix } from '../setup/factories.ts';
import { HOUR, insertUsage, MINUTE, type ModelRef, modelsByName, type UsageEvent } from '../setup/usage-factory.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The features page in a real browser: htmx swaps (with and without JavaScript), polling, charts,
// change markers, the add-feature form and a phone-width layout. The database is shared with other
// test files, so every assertion is about features this file creates (selected by ?feature=slug).

const SHOTS = 'test/e2e/screenshots';
const FEATURES = '/platform/ai-management/features';
const OVERVIEW = '/platform/ai-management';

let t: TestContext;
let browser: Browser;
let server: Server;
let baseUrl: string;
let admin: Awaited<ReturnType<typeof makeUser>>;
let models: Map<string, ModelRef>;
let ingestToken: string;
/** Two features of this file's own: A has a day of usage, B a little. */
let A: { id: string; name: string; display_name: string };
let B: { id: string; name: string; display_name: string };

const ago = (ms: number) => new Date(Date.now() - ms);
const featureUrl = (slug: string, extra = '') => `${FEATURES}?feature=${slug}${extra}`;

/** A day of traffic for a feature: one request every 20 minutes, some in the last hour, a few errors. */
function dayOfUsage(featureId: string, model: ModelRef, step: number): UsageEvent[] {
  const events: UsageEvent[] = [];
  for (let at = 2 * MINUTE; at < 23.5 * HOUR; at += step) {
    const i = events.length;
    events.push({
      feature_id: featureId,
      model,
      status: i % 25 === 7 ? 'error' : 'success',
      response_time_ms: 150 + ((i * 37) % 400),
      end_user_id: `user-${i % 9}`,
      created_at: ago(at),
    });
  }
  return events;
}

beforeAll(async () => {
  t = startTestApp();
  ({ server, baseUrl } = await listen(t.app));
  browser = await launchBrowser();
  fs.mkdirSync(SHOTS, { recursive: true });
  admin = await makeUser(t.db, 'admin');
  models = await modelsByName(t.db);
  ingestToken = (await makeToken(t.db, 'ingest')).token;
  const tag = suffix();
  A = await makeFeature(t.db, { display_name: `Alpha assistant ${tag}`, description: 'Answers support questions (e2e)' });
  B = await makeFeature(t.db, { display_name: `Beta summariser ${tag}`, description: 'Summarises tickets (e2e)' });
  const mini = models.get('gpt-4o-mini')!;
  await insertUsage(t.db, [...dayOfUsage(A.id, mini, 20 * MINUTE), ...dayOfUsage(B.id, mini, 90 * MINUTE)]);
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

/** A fresh browser context, signed in as the admin through the real login form, on `path`. */
const signedIn = (path: string, options: BrowserContextOptions = {}) => signInAs(browser, baseUrl, admin, path, options);

const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const marker = (page: Page) => page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload);
const query = (page: Page) => Object.fromEntries(new URL(page.url()).searchParams);
const digits = (s: string | null) => Number((s ?? '').replace(/[^0-9]/g, ''));

/** The Requests figure on a feature's card. */
function cardRequests(page: Page, slug: string): Promise<number> {
  return page.evaluate((slug) => {
    const card = document.querySelector(`a.feature-card[data-feature="${slug}"]`);
    const fact = [...(card?.querySelectorAll('.facts > div') ?? [])].find((d) => d.querySelector('dt')?.textContent === 'Requests');
    return Number((fact?.querySelector('dd')?.textContent ?? '').replace(/[^0-9]/g, ''));
  }, slug);
}

const totalRequests = async (page: Page) => digits(await page.textContent('#feature-overview dd[data-stat="total_requests"]'));

/** Lines drawn by chartist, tables collapsed: what charts.js leaves behind when it has run. */
async function expectChartsDrawn(page: Page) {
  // chartist draws each chart in a task of its own after charts.js asks: wait until every one has.
  await page.waitForFunction(() => {
    const charts = [...document.querySelectorAll('#feature-overview [data-chart]')];
    return charts.length > 0 && charts.every((el) => el.querySelector('svg .ct-series'));
  });
  const state = await page.evaluate(() => ({
    charts: document.querySelectorAll('#feature-overview [data-chart]').length,
    drawn: document.querySelectorAll('#feature-overview [data-chart][data-drawn] svg').length,
    lines: document.querySelectorAll('#chart-latency .ct-chart svg .ct-line').length,
    openTables: document.querySelectorAll('#feature-overview details.chart-data[open]').length,
  }));
  expect(state.charts).toBeGreaterThanOrEqual(2);
  expect(state.drawn).toBe(state.charts);
  expect(state.lines).toBeGreaterThan(0);
  expect(state.openTables).toBe(0);
}

describe('the features page with JavaScript', () => {
  it('when a card, a tab and a range are clicked, then htmx swaps each part in place, pushes the URL, redraws the charts, and Back restores the previous state', async () => {
    const { context, page, problems } = await signedIn(featureUrl(A.name));
    expect(await page.getAttribute('html', 'class')).toBe('js');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(A.name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${A.name}"]`, 'aria-current')).toBe('true');
    await expectChartsDrawn(page);
    await shot(page, 'features-js');
    await page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));

    // A card: the workspace is swapped and the URL names the new feature.
    await page.click(`a.feature-card[data-feature="${B.name}"]`);
    await page.waitForSelector(`#feature-panel[data-feature="${B.name}"]`);
    await page.waitForURL((u) => u.searchParams.get('feature') === B.name);
    expect(await page.textContent('#feature-title')).toContain(B.display_name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${B.name}"]`, 'aria-current')).toBe('true');
    expect(await page.getAttribute(`a.feature-card[data-feature="${A.name}"]`, 'aria-current')).toBeNull();
    expect(await marker(page)).toBe(1);
    await expectChartsDrawn(page);

    // Each tab: the panel is swapped and the URL names the tab.
    const tabs = [
      ['models', 'Models', 'Serving production now'],
      ['prompts', 'Prompts', 'prompt versions'],
      ['testing', 'Testing', 'not built yet'],
      ['settings', 'Settings', 'Latency threshold'],
      ['overview', 'Overview', 'Performance overview'],
    ];
    for (const [tab, label, text] of tabs) {
      await page.click(`#feature-panel nav.tabs a:text-is("${label}")`);
      await page.waitForURL((u) => u.searchParams.get('tab') === tab);
      await page.waitForSelector(`#feature-panel nav.tabs a[aria-current="page"]:text-is("${label}")`);
      expect(query(page)).toMatchObject({ feature: B.name, tab });
      expect(await page.textContent('#feature-panel')).toContain(text);
      expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
      expect(await marker(page)).toBe(1);
      await shot(page, `features-tab-${tab}`);
    }
    expect(await page.locator('#feature-panel tr[data-environment]').count()).toBe(0); // the overview, not the models tab, is shown now
    await expectChartsDrawn(page);

    // A range: only the overview is swapped; the charts are drawn again after the swap.
    await page.click('#feature-overview nav.ranges a:text-is("7 days")');
    await page.waitForURL((u) => u.searchParams.get('range') === '7d');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("7 days")');
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'overview', range: '7d' });
    expect(await page.locator('#feature-overview nav.ranges a[aria-current]').count()).toBe(1);
    expect(await marker(page)).toBe(1);
    await expectChartsDrawn(page);
    await shot(page, 'features-overview-7d');

    await page.click('#feature-overview nav.ranges a:text-is("1 hour")');
    await page.waitForURL((u) => u.searchParams.get('range') === '1h');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("1 hour")');
    await expectChartsDrawn(page);
    expect(await marker(page)).toBe(1);
    await shot(page, 'features-overview-1h');

    // Refresh reloads the workspace for the state in the address bar (B, 1 hour), not the first page's.
    await page.evaluate(() => document.querySelector('#feature-workspace')!.setAttribute('data-stale', 'true'));
    await page.click('a[data-refresh]');
    await page.waitForSelector('#feature-workspace:not([data-stale])');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await page.locator('#feature-overview nav.ranges a[aria-current="page"]').textContent()).toBe('1 hour');
    expect(await marker(page)).toBe(1);
    await expectChartsDrawn(page);

    // Back: htmx restores the previous URL's state (it fetches the page again, without a reload).
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('range') === '7d');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("7 days")');
    await expectChartsDrawn(page);
    expect(await marker(page)).toBe(1);
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('tab') === 'overview' && u.searchParams.get('range') === '24h');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("24 hours")');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await marker(page)).toBe(1);
    await expectChartsDrawn(page);

    expect(problems).toEqual([]);
    await context.close();
  });

  it('when usage is ingested through the API, then the next poll of the overview and the cards shows exactly the new requests, without a reload', async () => {
    const { context, page, problems } = await signedIn(featureUrl(A.name));
    expect(await page.getAttribute('#feature-overview', 'hx-trigger')).toBe('every 30s');
    expect(await page.getAttribute('#feature-cards', 'hx-trigger')).toBe('every 30s');
    await page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));
    const before = { total: await totalRequests(page), card: await cardRequests(page, A.name) };
    expect(before.total).toBeGreaterThan(0);
    expect(before.card).toBe(before.total); // both the last 24 hours

    const sent = 7;
    const events = Array.from({ length: sent }, (_, i) => ({
      event_id: `e2e-${suffix()}-${i}`,
      feature: A.name,
      model: 'gpt-4o-mini',
      status: 'success',
      response_time_ms: 100 + i,
      input_tokens: 10,
      output_tokens: 5,
    }));
    const res = await fetch(`${baseUrl}/api/v1/usage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ingestToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: sent, duplicates: 0, rejected: [] });

    // What the 30 s timer would do, now.
    await page.evaluate(() => {
      const htmx = (window as unknown as { htmx: { trigger(el: Element, name: string): void } }).htmx;
      htmx.trigger(document.querySelector('#feature-overview')!, 'every');
      htmx.trigger(document.querySelector('#feature-cards')!, 'every');
    });
    await expect.poll(() => totalRequests(page)).toBe(before.total + sent);
    await expect.poll(() => cardRequests(page, A.name)).toBe(before.card + sent);
    expect(await marker(page)).toBe(1);
    // The polled parts come back still polling, and the charts are drawn again.
    expect(await page.getAttribute('#feature-overview', 'hx-trigger')).toBe('every 30s');
    expect(await page.getAttribute('#feature-cards', 'hx-trigger')).toBe('every 30s');
    await expectChartsDrawn(page);
    expect(await page.textContent('#feature-overview time[data-age]')).toMatch(/^\d+ s ago$/);

    expect(problems).toEqual([]);
    await context.close();
  });

  it('when a model change took effect in the range, then it is drawn as a marker on the response-time chart and listed', async () => {
    const gpt4o = models.get('gpt-4o')!;
    const finishedAt = ago(3 * HOUR);
    const [assignment] = await t
      .db('feature_model_assignments')
      .insert({ feature_id: A.id, model_id: gpt4o.id, environment: 'production', assigned_by: 'e2e', assigned_at: finishedAt })
      .returning('id');
    await t.db('deployments').insert({
      feature_id: A.id,
      model_id: gpt4o.id,
      environment: 'production',
      kind: 'assign',
      status: 'success',
      requested_by: 'e2e',
      assignment_id: assignment.id,
      started_at: new Date(finishedAt.getTime() - MINUTE),
      finished_at: finishedAt,
    });

    const { context, page, problems } = await signedIn(featureUrl(A.name));
    await expectChartsDrawn(page);
    const markers = page.locator('#chart-latency svg line.ct-marker');
    expect(await markers.count()).toBe(1);
    expect(await markers.locator('title').textContent()).toBe(`production: ${gpt4o.display_name} (assign)`);
    expect(await page.locator('#chart-throughput svg line.ct-marker').count()).toBe(1);
    // The marker sits inside the plot, at the bucket three hours back (of 24 or 25).
    const box = await page.evaluate(() => {
      const line = document.querySelector('#chart-latency svg line.ct-marker')!;
      const grid = document.querySelector('#chart-latency svg .ct-grids')!.getBoundingClientRect();
      const x = line.getBoundingClientRect().x;
      return { fraction: (x - grid.x) / grid.width };
    });
    expect(box.fraction).toBeGreaterThan(0.75);
    expect(box.fraction).toBeLessThan(0.95);
    const changes = page.locator('#feature-overview section.changes li');
    expect(await changes.count()).toBe(1);
    expect(await changes.textContent()).toContain(`production: ${gpt4o.display_name}`);
    expect(await page.textContent(`a.feature-card[data-feature="${A.name}"]`)).toContain(gpt4o.display_name);
    await shot(page, 'features-change-marker');

    // Out of the 1-hour range: no marker, no list.
    await page.click('#feature-overview nav.ranges a:text-is("1 hour")');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("1 hour")');
    await expectChartsDrawn(page);
    expect(await page.locator('#feature-overview line.ct-marker').count()).toBe(0);
    expect(await page.locator('#feature-overview section.changes').count()).toBe(0);

    expect(problems).toEqual([]);
    await context.close();
  });
});

describe('the features page without JavaScript', () => {
  it('when a card, a tab and a range are followed as plain links, then each page shows its state, the data tables stand in for the charts and the CSV downloads', async () => {
    const { context, page } = await signedIn(featureUrl(A.name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    await shot(page, 'features-nojs');

    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('feature') === B.name),
      page.click(`a.feature-card[data-feature="${B.name}"]`),
    ]);
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${B.name}"]`, 'aria-current')).toBe('true');

    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('tab') === 'models'),
      page.click('#feature-panel nav.tabs a:text-is("Models")'),
    ]);
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'models' });
    expect(await page.locator('#feature-panel tr[data-environment]').count()).toBe(3);
    expect(await page.getAttribute('#feature-panel nav.tabs a[aria-current="page"]', 'href')).toContain('tab=models');

    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('tab') === 'overview'),
      page.click('#feature-panel nav.tabs a:text-is("Overview")'),
    ]);
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('range') === '7d'),
      page.click('#feature-overview nav.ranges a:text-is("7 days")'),
    ]);
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'overview', range: '7d' });
    expect(await page.textContent('#feature-overview nav.ranges a[aria-current="page"]')).toBe('7 days');

    // No charts drawn; every chart's table is open and visible, one row per bucket.
    const tables = await page.evaluate(() =>
      [...document.querySelectorAll('#feature-overview figure.chart')].map((fig) => ({
        id: fig.id,
        buckets: JSON.parse(fig.querySelector('[data-chart]')!.getAttribute('data-chart')!).labels.length as number,
        rows: fig.querySelectorAll('details.chart-data tbody tr').length,
        open: (fig.querySelector('details.chart-data') as HTMLDetailsElement).open,
        svg: fig.querySelectorAll('svg').length,
        chartShown: getComputedStyle(fig.querySelector('.ct-chart')!).display !== 'none',
      })),
    );
    expect(tables.map((x) => x.id)).toEqual(expect.arrayContaining(['chart-latency', 'chart-throughput']));
    for (const table of tables)
      expect(table).toEqual({ id: table.id, buckets: table.buckets, rows: table.buckets, open: true, svg: 0, chartShown: false });
    expect(tables[0].buckets).toBeGreaterThanOrEqual(28); // 7 days of 6-hour buckets
    expect(tables[0].buckets).toBeLessThanOrEqual(29);
    expect(await page.locator('#chart-latency details.chart-data table').isVisible()).toBe(true);

    // The CSV: a download, one line per bucket under a header.
    const csvLink = page.locator('#feature-overview a:text-is("CSV")');
    const [download] = await Promise.all([page.waitForEvent('download'), csvLink.click()]);
    expect(download.suggestedFilename()).toBe(`${B.name}-7d.csv`);
    const csv = fs
      .readFileSync(await download.path(), 'utf8')
      .trimEnd()
      .split('\r\n');
    expect(csv[0]).toBe('bucket_start_utc,requests,response_time_ms,p95_ms,error_rate_pct,cost_usd');
    expect(csv.length - 1).toBeGreaterThanOrEqual(28);
    const viaRequest = await page.request.get(new URL((await csvLink.getAttribute('href'))!, baseUrl).href);
    expect(viaRequest.status()).toBe(200);
    expect(viaRequest.headers()['content-type']).toMatch(/^text\/csv/);

    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('range') === '1h'),
      page.click('#feature-overview nav.ranges a:text-is("1 hour")'),
    ]);
    const oneHour = await page.evaluate(() => {
      const fig = document.querySelector('#chart-latency')!;
      return {
        buckets: JSON.parse(fig.querySelector('[data-chart]')!.getAttribute('data-chart')!).labels.length,
        rows: fig.querySelectorAll('tbody tr').length,
      };
    });
    expect(oneHour.rows).toBe(oneHour.buckets);
    expect(oneHour.buckets).toBeGreaterThanOrEqual(12);
    expect(oneHour.buckets).toBeLessThanOrEqual(13);
    await shot(page, 'features-nojs-overview-1h');
    await context.close();
  });

  it('when an admin adds a feature with a bad slug and then a good one, then the 422 page shows the inline error and the good one lands on its page with a flash', async () => {
    const { context, page } = await signedIn(FEATURES, { javaScriptEnabled: false });
    await page.click('details.add-feature summary');
    await page.fill('details.add-feature input[name="name"]', 'Not A Slug!');
    await page.fill('details.add-feature input[name="display_name"]', 'E2E added feature');
    const [bad] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === FEATURES),
      page.click('details.add-feature button[type="submit"]'),
    ]);
    expect(bad.status()).toBe(422);
    await page.waitForSelector('#name-error');
    expect(await page.getAttribute('details.add-feature', 'open')).not.toBeNull();
    expect(await page.textContent('#name-error')).toMatch(/^Slug must be lowercase letters, digits and dashes/);
    expect(await page.getAttribute('details.add-feature input[name="name"]', 'aria-invalid')).toBe('true');
    expect(await page.inputValue('details.add-feature input[name="name"]')).toBe('Not A Slug!');
    expect(await page.inputValue('details.add-feature input[name="display_name"]')).toBe('E2E added feature');
    await shot(page, 'features-nojs-add-feature-422');

    const slug = `e2e-${suffix()}`;
    await page.fill('details.add-feature input[name="name"]', slug);
    await Promise.all([page.waitForURL(`${baseUrl}${featureUrl(slug)}`), page.click('details.add-feature button[type="submit"]')]);
    expect(await page.textContent('.flash-success')).toContain('Feature “E2E added feature” added.');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(slug);
    expect(await page.getAttribute(`a.feature-card[data-feature="${slug}"]`, 'aria-current')).toBe('true');
    expect(await page.textContent('#no-data')).toContain('No requests in this range');
    await context.close();
  });
});

describe('the global overview', () => {
  it.each([true, false])(
    "when JavaScript is %s, then the features table lists this file's features with their requests",
    async (javaScriptEnabled) => {
      const { context, page, problems } = await signedIn(OVERVIEW, { javaScriptEnabled });
      expect(await page.getAttribute('html', 'class')).toBe(javaScriptEnabled ? 'js' : 'no-js');
      for (const f of [A, B]) {
        const row = page.locator(`#features tr[data-feature="${f.name}"]`);
        expect(await row.count()).toBe(1);
        expect(await row.locator('th a').textContent()).toBe(f.display_name);
        expect(await row.locator('th a').getAttribute('href')).toBe(featureUrl(f.name));
        expect(digits(await row.locator('td[data-col="requests"]').textContent())).toBeGreaterThan(0);
      }
      if (javaScriptEnabled) {
        expect(await page.getAttribute('#overview-body', 'hx-trigger')).toBe('every 30s');
        expect(await page.textContent('#overview-body time[data-age]')).toMatch(/^\d+ s ago$/);
        // The poll swaps the body in place and leaves the table there.
        await page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));
        const stamp = await page.getAttribute('#overview-body time[data-age]', 'datetime');
        await page.evaluate(() =>
          (window as unknown as { htmx: { trigger(el: Element, name: string): void } }).htmx.trigger(
            document.querySelector('#overview-body')!,
            'every',
          ),
        );
        await expect.poll(() => page.getAttribute('#overview-body time[data-age]', 'datetime')).not.toBe(stamp);
        expect(await page.locator(`#features tr[data-feature="${A.name}"]`).count()).toBe(1);
        expect(await marker(page)).toBe(1);
      }
      await shot(page, `global-overview-${javaScriptEnabled ? 'js' : 'nojs'}`);
      expect(problems).toEqual([]);
      await context.close();
    },
  );
});

describe('the features page at phone width', () => {
  it('when the viewport is 390 px wide, then the page does not scroll sideways', async () => {
    const { context, page, problems } = await signedIn(featureUrl(A.name), { viewport: { width: 390, height: 844 } });
    await expectChartsDrawn(page);
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth }));
    await shot(page, 'features-phone');
    expect(widths.scroll).toBeLessThanOrEqual(390 + 1);
    expect(widths.body).toBeLessThanOrEqual(390 + 1);
    expect(problems).toEqual([]);
    await context.close();
  });
});
