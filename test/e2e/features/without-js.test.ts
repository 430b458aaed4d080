import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { markNoReload, noReloadMark, shot } from '../../setup/browser.ts';
import { suffix } from '../../setup/factories.ts';
import {
  digits,
  expectChartsDrawn,
  FEATURES,
  type FeaturesInBrowser,
  featureUrl,
  OVERVIEW,
  openFeaturesInBrowser,
  query,
} from './setup.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The features page without JavaScript (plain links and forms, data tables instead of charts, the
// CSV download), the global overview with and without it, and a phone-width layout.

let b: FeaturesInBrowser;
beforeAll(async () => {
  b = await openFeaturesInBrowser();
});
afterAll(() => b?.close());

/** Every chart of the overview: its buckets, its table's rows, whether the table is open, what is drawn and shown. */
const chartTables = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('#feature-overview figure.chart')].map((fig) => ({
      id: fig.id,
      buckets: JSON.parse(fig.querySelector('[data-chart]')!.getAttribute('data-chart')!).labels.length as number,
      rows: fig.querySelectorAll('details.chart-data tbody tr').length,
      open: (fig.querySelector('details.chart-data') as HTMLDetailsElement).open,
      svg: fig.querySelectorAll('svg').length,
      chartShown: getComputedStyle(fig.querySelector('.ct-chart')!).display !== 'none',
    })),
  );

/** Follows a plain link and waits for the page it loads. */
const follow = (page: Page, selector: string, param: string, value: string) =>
  Promise.all([page.waitForURL((u) => u.searchParams.get(param) === value), page.click(selector)]);

describe('the features page without JavaScript', () => {
  it('when a card and a tab are followed as plain links, then each page shows its state', async () => {
    const { A, B } = b;
    const { context, page } = await b.signedIn(featureUrl(A.name), { javaScriptEnabled: false });
    expect(await page.getAttribute('html', 'class')).toBe('no-js');
    await shot(page, 'features-nojs');
    await follow(page, `a.feature-card[data-feature="${B.name}"]`, 'feature', B.name);
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${B.name}"]`, 'aria-current')).toBe('true');
    await follow(page, '#feature-panel nav.tabs a:text-is("Models")', 'tab', 'models');
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'models' });
    expect(await page.locator('#feature-panel tr[data-environment]').count()).toBe(3);
    expect(await page.getAttribute('#feature-panel nav.tabs a[aria-current="page"]', 'href')).toContain('tab=models');
    await follow(page, '#feature-panel nav.tabs a:text-is("Overview")', 'tab', 'overview');
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'overview' });
    await context.close();
  });

  it('when a range is followed as a plain link, then the data tables stand in for the charts, one row per bucket, and the CSV downloads', async () => {
    const { B } = b;
    const { context, page } = await b.signedIn(featureUrl(B.name, '&tab=overview'), { javaScriptEnabled: false });
    await follow(page, '#feature-overview nav.ranges a:text-is("7 days")', 'range', '7d');
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'overview', range: '7d' });
    expect(await page.textContent('#feature-overview nav.ranges a[aria-current="page"]')).toBe('7 days');
    // No charts drawn; every chart's table is open and visible, one row per bucket.
    const tables = await chartTables(page);
    expect(tables.map((x) => x.id)).toEqual(expect.arrayContaining(['chart-latency', 'chart-throughput']));
    for (const table of tables)
      expect(table).toEqual({ id: table.id, buckets: table.buckets, rows: table.buckets, open: true, svg: 0, chartShown: false });
    expect(tables[0].buckets).toBeGreaterThanOrEqual(28); // 7 days of 6-hour buckets
    expect(tables[0].buckets).toBeLessThanOrEqual(29);
    expect(await page.locator('#chart-latency details.chart-data table').isVisible()).toBe(true);

    // The CSV: a download, one line per bucket under a header.
    const csvLink = page.locator('#feature-overview a:text-is("CSV")');
    const [download] = await Promise.all([page.waitForEvent('download'), csvLink.click()]);
    expect(download.suggestedFilename()).toBe(`${B.name}-production-7d.csv`);
    const csv = fs
      .readFileSync(await download.path(), 'utf8')
      .trimEnd()
      .split('\r\n');
    expect(csv[0]).toBe('bucket_start_utc,requests,response_time_ms,p95_ms,error_rate_pct,cost_usd');
    expect(csv.length - 1).toBeGreaterThanOrEqual(28);
    const viaRequest = await page.request.get(new URL((await csvLink.getAttribute('href'))!, b.baseUrl).href);
    expect(viaRequest.status()).toBe(200);
    expect(viaRequest.headers()['content-type']).toMatch(/^text\/csv/);
    await context.close();
  });

  it('when the 1-hour range is followed, then its table has a row per 5-minute bucket', async () => {
    const { context, page } = await b.signedIn(featureUrl(b.B.name, '&tab=overview&range=7d'), { javaScriptEnabled: false });
    await follow(page, '#feature-overview nav.ranges a:text-is("1 hour")', 'range', '1h');
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
    const { context, page } = await b.signedIn(FEATURES, { javaScriptEnabled: false });
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
    await Promise.all([page.waitForURL(`${b.baseUrl}${featureUrl(slug)}`), page.click('details.add-feature button[type="submit"]')]);
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
      const { context, page, problems } = await b.signedIn(OVERVIEW, { javaScriptEnabled });
      expect(await page.getAttribute('html', 'class')).toBe(javaScriptEnabled ? 'js' : 'no-js');
      for (const f of [b.A, b.B]) {
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
        await markNoReload(page);
        const stamp = await page.getAttribute('#overview-body time[data-age]', 'datetime');
        await page.evaluate(() =>
          (window as unknown as { htmx: { trigger(el: Element, name: string): void } }).htmx.trigger(
            document.querySelector('#overview-body')!,
            'every',
          ),
        );
        await expect.poll(() => page.getAttribute('#overview-body time[data-age]', 'datetime')).not.toBe(stamp);
        expect(await page.locator(`#features tr[data-feature="${b.A.name}"]`).count()).toBe(1);
        expect(await noReloadMark(page)).toBe(1);
      }
      await shot(page, `global-overview-${javaScriptEnabled ? 'js' : 'nojs'}`);
      expect(problems).toEqual([]);
      await context.close();
    },
  );
});

describe('the features page at phone width', () => {
  it('when the viewport is 390 px wide, then the page does not scroll sideways', async () => {
    const { context, page, problems } = await b.signedIn(featureUrl(b.A.name), { viewport: { width: 390, height: 844 } });
    await expectChartsDrawn(page);
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth }));
    await shot(page, 'features-phone');
    expect(widths.scroll).toBeLessThanOrEqual(390 + 1);
    expect(widths.body).toBeLessThanOrEqual(390 + 1);
    expect(problems).toEqual([]);
    await context.close();
  });
});
