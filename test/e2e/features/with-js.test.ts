import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { markNoReload, noReloadMark, shot } from '../../setup/browser.ts';
import { makeAssignment, suffix } from '../../setup/factories.ts';
import { HOUR, MINUTE } from '../../setup/usage-factory.ts';
import {
  ago,
  cardRequests,
  expectChartsDrawn,
  type FeaturesInBrowser,
  featureUrl,
  openFeaturesInBrowser,
  query,
  totalRequests,
} from './setup.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The features page with JavaScript: htmx swaps the part that changes in place and pushes the URL,
// the charts are drawn again after each swap, polling brings new usage in, change markers are drawn.

let b: FeaturesInBrowser;
beforeAll(async () => {
  b = await openFeaturesInBrowser();
});
afterAll(() => b?.close());

describe('the features page with JavaScript', () => {
  it('when a card is clicked, then htmx swaps the workspace in place, pushes the URL naming the feature and redraws the charts', async () => {
    const { A, B } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    expect(await page.getAttribute('html', 'class')).toBe('js');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(A.name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${A.name}"]`, 'aria-current')).toBe('true');
    await expectChartsDrawn(page);
    await shot(page, 'features-js');
    await markNoReload(page);

    await page.click(`a.feature-card[data-feature="${B.name}"]`);
    await page.waitForSelector(`#feature-panel[data-feature="${B.name}"]`);
    await page.waitForURL((u) => u.searchParams.get('feature') === B.name);
    expect(await page.textContent('#feature-title')).toContain(B.display_name);
    expect(await page.getAttribute(`a.feature-card[data-feature="${B.name}"]`, 'aria-current')).toBe('true');
    expect(await page.getAttribute(`a.feature-card[data-feature="${A.name}"]`, 'aria-current')).toBeNull();
    expect(await noReloadMark(page)).toBe(1);
    await expectChartsDrawn(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when each tab is clicked, then htmx swaps the panel in place and pushes the URL naming the tab', async () => {
    const { B } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(B.name));
    await markNoReload(page);
    const tabs = [
      ['models', 'Models', 'Serving production now'],
      ['prompts', 'Prompts', 'prompt versions'],
      ['testing', 'Testing', 'Playground'],
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
      expect(await noReloadMark(page)).toBe(1);
      await shot(page, `features-tab-${tab}`);
    }
    expect(await page.locator('#feature-panel tr[data-environment]').count()).toBe(0); // the overview, not the models tab, is shown now
    await expectChartsDrawn(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when a range is clicked, then only the overview is swapped, the URL names the range and the charts are drawn again; Refresh reloads the state in the address bar', async () => {
    const { A, B } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    await markNoReload(page);
    // Another feature first, so that the page's own URL and the address bar differ.
    await page.click(`a.feature-card[data-feature="${B.name}"]`);
    await page.waitForURL((u) => u.searchParams.get('feature') === B.name);
    await page.click('#feature-overview nav.ranges a:text-is("7 days")');
    await page.waitForURL((u) => u.searchParams.get('range') === '7d');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("7 days")');
    expect(query(page)).toMatchObject({ feature: B.name, tab: 'overview', range: '7d' });
    expect(await page.locator('#feature-overview nav.ranges a[aria-current]').count()).toBe(1);
    expect(await noReloadMark(page)).toBe(1);
    await expectChartsDrawn(page);
    await shot(page, 'features-overview-7d');

    await page.click('#feature-overview nav.ranges a:text-is("1 hour")');
    await page.waitForURL((u) => u.searchParams.get('range') === '1h');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("1 hour")');
    await expectChartsDrawn(page);
    expect(await noReloadMark(page)).toBe(1);
    await shot(page, 'features-overview-1h');

    // Refresh reloads the workspace for the state in the address bar (B, 1 hour), not the first page's.
    await page.evaluate(() => document.querySelector('#feature-workspace')!.setAttribute('data-stale', 'true'));
    await page.click('a[data-refresh]');
    await page.waitForSelector('#feature-workspace:not([data-stale])');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await page.locator('#feature-overview nav.ranges a[aria-current="page"]').textContent()).toBe('1 hour');
    expect(await noReloadMark(page)).toBe(1);
    await expectChartsDrawn(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when Back is pressed, then htmx restores the previous URL and its state (fetching it again, without a reload)', async () => {
    const { B } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(B.name, '&tab=models'));
    await markNoReload(page);
    for (const [selector, param, value] of [
      ['#feature-panel nav.tabs a:text-is("Overview")', 'tab', 'overview'],
      ['#feature-overview nav.ranges a:text-is("7 days")', 'range', '7d'],
      ['#feature-overview nav.ranges a:text-is("1 hour")', 'range', '1h'],
    ]) {
      await page.click(selector);
      await page.waitForURL((u) => u.searchParams.get(param) === value);
    }
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('range') === '7d');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("7 days")');
    await expectChartsDrawn(page);
    expect(await noReloadMark(page)).toBe(1);
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('tab') === 'overview' && u.searchParams.get('range') === '24h');
    await page.waitForSelector('#feature-overview nav.ranges a[aria-current="page"]:text-is("24 hours")');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(B.name);
    expect(await noReloadMark(page)).toBe(1);
    await expectChartsDrawn(page);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when usage is ingested through the API, then the open overview shows it within seconds (its live check), and the next poll of the cards too, without a reload', async () => {
    const { A } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    expect(await page.getAttribute('#feature-overview', 'hx-trigger')).toBe('every 30s, live-changed');
    expect(await page.getAttribute('#feature-cards', 'hx-trigger')).toBe('every 30s');
    await markNoReload(page);
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
    const res = await fetch(`${b.baseUrl}/api/v1/usage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${b.ingestToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: sent, duplicates: 0, rejected: [] });

    // Nothing is triggered by hand: live.js asks every 3 s and the overview refreshes itself (allowing for a loaded machine).
    await expect.poll(() => totalRequests(page), { timeout: 10_000 }).toBe(before.total + sent);
    // What the cards' 30 s timer would do, now.
    await page.evaluate(() => {
      const htmx = (window as unknown as { htmx: { trigger(el: Element, name: string): void } }).htmx;
      htmx.trigger(document.querySelector('#feature-cards')!, 'every');
    });
    await expect.poll(() => cardRequests(page, A.name)).toBe(before.card + sent);
    expect(await noReloadMark(page)).toBe(1);
    // The polled parts come back still polling, and the charts are drawn again.
    expect(await page.getAttribute('#feature-overview', 'hx-trigger')).toBe('every 30s, live-changed');
    expect(await page.getAttribute('#feature-cards', 'hx-trigger')).toBe('every 30s');
    await expectChartsDrawn(page);
    expect(await page.textContent('#feature-overview time[data-age]')).toMatch(/^\d+ s ago$/);

    expect(problems).toEqual([]);
    await context.close();
  });

  it('when the Models tab is opened first, then no charting library is loaded, and switching to the overview loads it and draws the charts', async () => {
    const { A } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name, '&tab=models'));
    expect(await page.locator('script[src*="chartist"], script[src*="charts.js"]').count()).toBe(0);
    await markNoReload(page);
    await page.click('#feature-panel nav.tabs a:text-is("Overview")');
    await page.waitForURL((u) => u.searchParams.get('tab') === 'overview');
    await expectChartsDrawn(page);
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when a search is typed, then htmx swaps only the cards while the typing goes on, and the URL keeps the search beside the selected feature', async () => {
    const { A, B } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    await markNoReload(page);
    await page.fill('#feature-search input[name="q"]', B.display_name.toUpperCase());
    const cards = () => page.evaluate(() => [...document.querySelectorAll('a.feature-card')].map((a) => a.getAttribute('data-feature')));
    // B matches; A, selected, is kept first and marked.
    await expect.poll(cards).toEqual([A.name, B.name]);
    expect(await page.textContent(`a.feature-card[data-feature="${A.name}"] .pinned-note`)).toBe('Selected · not on this page');
    await expect.poll(() => query(page)).toMatchObject({ feature: A.name, q: B.display_name.toUpperCase() });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('q');
    expect(await page.getAttribute('#feature-panel', 'data-feature')).toBe(A.name);
    expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when the viewport is 390 px wide, then the cards are one sideways strip and the selected feature starts on the first screen', async () => {
    const { context, page, problems } = await b.signedIn(featureUrl(b.A.name), { viewport: { width: 390, height: 844 } });
    await shot(page, 'features-390-strip');
    const top = await page.evaluate(() => document.querySelector('#feature-title')!.getBoundingClientRect().top + window.scrollY);
    expect(top).toBeLessThan(700);
    const page390 = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(page390).toBeLessThanOrEqual(391);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when a model change took effect in the range, then it is drawn as a marker on the response-time chart and listed', async () => {
    const { A, t } = b;
    const gpt4o = b.models.get('gpt-4o')!;
    const finishedAt = ago(3 * HOUR);
    const assignment = await makeAssignment(t.db, { feature_id: A.id, model_id: gpt4o.id, assigned_by: 'e2e', assigned_at: finishedAt });
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

    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    await expectChartsDrawn(page);
    const markers = page.locator('#chart-latency svg line.ct-marker');
    expect(await markers.count()).toBe(1);
    expect(await markers.locator('title').textContent()).toBe(`production: ${gpt4o.display_name} (assign)`);
    expect(await page.locator('#chart-latency svg text.ct-marker-label').textContent()).toBe(`→ ${gpt4o.display_name}`);
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

describe('the features page with JavaScript: partial buckets', () => {
  it('when the charts are drawn, then the buckets the range cuts short are drawn apart (.ct-partial): dotted on lines and areas, hatched bars', async () => {
    const { A } = b;
    const { context, page, problems } = await b.signedIn(featureUrl(A.name));
    await expectChartsDrawn(page);
    const drawn = await page.evaluate(() => {
      const spec = (id: string) => JSON.parse(document.querySelector(`#${id} [data-chart]`)!.getAttribute('data-chart')!);
      const all = (sel: string) => [...document.querySelectorAll(sel)];
      const errors = spec('chart-errors');
      return {
        partial: spec('chart-throughput').partial as number[],
        buckets: spec('chart-throughput').labels.length as number,
        latencyCompanions: all('#chart-latency svg g.ct-series.ct-partial').length,
        dashes: all('#chart-throughput svg g.ct-series.ct-partial path.ct-line').map((el) => getComputedStyle(el).strokeDasharray),
        areas: all('#chart-throughput svg g.ct-series.ct-partial path.ct-area').length,
        bars: {
          drawn: all('#chart-errors svg line.ct-bar.ct-partial').length,
          // A bucket without requests has no error rate, hence no bar.
          expected: (errors.partial as number[]).filter((i) => errors.series[0].data[i] !== null).length,
        },
        rows: all('#chart-throughput details.chart-data tbody tr.partial th').map((th) => th.textContent),
      };
    });
    expect(drawn.partial).toEqual([0, drawn.buckets - 1]);
    expect(drawn.latencyCompanions).toBe(2); // mean and p95
    expect(drawn.dashes.length).toBeGreaterThan(0); // requests are 0, never missing: the segments are always there
    for (const dash of drawn.dashes) expect(dash).not.toBe('none');
    expect(drawn.areas).toBeGreaterThan(0);
    expect(drawn.bars.drawn).toBe(drawn.bars.expected);
    expect(drawn.rows).toEqual([expect.stringMatching(/^from \d\d:\d\d$/), expect.stringMatching(/^\d\d:\d\d \(so far\)$/)]);
    await shot(page, 'features-partial-buckets');
    expect(problems).toEqual([]);
    await context.close();
  });
});
