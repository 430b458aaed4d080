import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../setup/browser.ts';
import { makeFeature } from '../setup/factories.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// The Alerts page and an alert's page in Chromium (issue 17): axe finds nothing serious, nothing
// scrolls sideways at 390 px, and acknowledging works with JavaScript (htmx swaps the alert in
// place) and without (a plain POST and a 303).

const PAGE = '/platform/ai-management/alerts';
let b: BrowserApp;
beforeAll(async () => {
  b = await openBrowserApp(startTestApp());
});
afterAll(() => b?.close());

async function firingAlert() {
  const feature = await makeFeature(b.t.db);
  const [rule] = await b.t
    .db('alert_rules')
    .insert({ feature_id: feature.id, environment: 'production', kind: 'error_rate', threshold: 10, created_by: 'e2e' })
    .returning('id');
  const at = new Date();
  const [alert] = await b.t
    .db('alerts')
    .insert({
      rule_id: rule!.id,
      feature_id: feature.id,
      state: 'firing',
      since: at,
      started_at: at,
      evaluated_at: at,
      last_value: 25,
      last_sample_n: 40,
      last_notified_at: at,
    })
    .returning('id');
  await b.t.db('alert_events').insert({
    alert_id: alert!.id,
    kind: 'transition',
    from_state: 'pending',
    to_state: 'firing',
    value: 25,
    threshold: 10,
    sample_n: 40,
    at,
  });
  return alert!.id;
}

const sideways = (page: Page) =>
  page.evaluate(() => {
    const over = (el: Element) => el.scrollWidth > el.clientWidth + 1;
    return [
      ...(over(document.documentElement) ? ['the page'] : []),
      ...[...document.querySelectorAll('.table-wrap')].filter(over).map((w) => `table ${w.querySelector('table')?.id || '?'}`),
    ];
  });

describe('the Alerts pages in a browser', () => {
  it('the Alerts page and an alert page have no serious axe violation, at full width and at 390 px', async () => {
    const id = await firingAlert();
    for (const viewport of [undefined, { width: 390, height: 844 }]) {
      const { context, page, problems } = await b.signedIn(PAGE, viewport ? { viewport } : {});
      // Every form open, so axe sees them too.
      await page.evaluate(() => document.querySelectorAll('details').forEach((d) => d.setAttribute('open', '')));
      expect(await seriousViolations(page)).toEqual([]);
      if (viewport) expect(await sideways(page)).toEqual([]);
      await shot(page, `alerts${viewport ? '-390' : ''}`);
      await page.goto(`${b.baseUrl}${PAGE}/${id}`);
      expect(await seriousViolations(page)).toEqual([]);
      if (viewport) expect(await sideways(page)).toEqual([]);
      expect(problems).toEqual([]);
      await page.waitForLoadState('networkidle');
      await context.close();
    }
  });

  it.each([
    ['with JavaScript', true],
    ['without JavaScript', false],
  ])('%s: acknowledging with a note shows who and the note, and the flash', async (_how, js) => {
    const id = await firingAlert();
    const { context, page, problems } = await b.signedIn(`${PAGE}/${id}`, { javaScriptEnabled: js });
    if (js) await markNoReload(page);
    await page.fill('#ack-note', 'on it');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/${id}/ack`)),
      page.click('#ack-form button[type="submit"]'),
    ]);
    expect(answer.status()).toBe(js ? 200 : 303);
    await page.waitForSelector('.flash-success');
    expect(await page.textContent('.flash-success')).toBe('Acknowledged: no repeated messages until the alert resolves.');
    expect((await page.textContent('#alert-timeline li'))?.replace(/\s+/g, ' ')).toMatch(/acknowledged by .*: on it$/);
    if (js) expect(await noReloadMark(page)).toBe(1);
    expect(problems).toEqual([]);
    // The session is shared by this file's contexts: nothing of this one may still be writing it.
    await page.waitForLoadState('networkidle');
    await context.close();
  });
});
