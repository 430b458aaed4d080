import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { startTestApp } from '../../setup/app.ts';
import { type BrowserApp, openBrowserApp } from '../../setup/browser.ts';
import { makeFeature, makeToken, suffix } from '../../setup/factories.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { HOUR, insertUsage, MINUTE, type ModelRef, modelsByName, type UsageEvent } from '../../setup/usage-factory.ts';

// The features page in a real browser, as its test files share it, each file on a database of its own.

export const FEATURES = '/platform/ai-management/features';
export const OVERVIEW = '/platform/ai-management';

export const ago = (ms: number) => new Date(Date.now() - ms);
export const featureUrl = (slug: string, extra = '') => `${FEATURES}?feature=${slug}${extra}`;
export const query = (page: Page) => Object.fromEntries(new URL(page.url()).searchParams);
export const digits = (s: string | null) => Number((s ?? '').replace(/[^0-9]/g, ''));

/** A day of traffic for a feature: one request every `step` ms, some in the last hour, a few errors. */
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

export interface FeaturesInBrowser extends BrowserApp {
  models: Map<string, ModelRef>;
  ingestToken: string;
  /** Two features of the file's own: A has a day of usage, B a little. */
  A: FeatureRecord;
  B: FeatureRecord;
}

export async function openFeaturesInBrowser(): Promise<FeaturesInBrowser> {
  // A database of the file's own: the overview's table and the cards' first page (issue 19: a page of
  // them, those that need attention first) are then the file's to know, whatever other files add.
  const own = await ownSeededDatabase('e2e_features');
  const t = startTestApp({}, own.db);
  const opened = await openBrowserApp(t);
  const app = {
    ...opened,
    async close() {
      await opened.close();
      await own.drop();
    },
  };
  const models = await modelsByName(t.db);
  const tag = suffix();
  const A = await makeFeature(t.db, { display_name: `Alpha assistant ${tag}`, description: 'Answers support questions (e2e)' });
  const B = await makeFeature(t.db, { display_name: `Beta summariser ${tag}`, description: 'Summarises tickets (e2e)' });
  const mini = models.get('gpt-4o-mini')!;
  await insertUsage(t.db, [...dayOfUsage(A.id, mini, 20 * MINUTE), ...dayOfUsage(B.id, mini, 90 * MINUTE)]);
  return { ...app, models, ingestToken: (await makeToken(t.db, 'ingest')).token, A, B };
}

/** The Requests figure on a feature's card. */
export function cardRequests(page: Page, slug: string): Promise<number> {
  return page.evaluate((slug) => {
    const card = document.querySelector(`a.feature-card[data-feature="${slug}"]`);
    const fact = [...(card?.querySelectorAll('.facts > div') ?? [])].find((d) => d.querySelector('dt')?.textContent === 'Requests');
    return Number((fact?.querySelector('dd')?.textContent ?? '').replace(/[^0-9]/g, ''));
  }, slug);
}

export const totalRequests = async (page: Page) => digits(await page.textContent('#feature-overview dd[data-stat="total_requests"]'));

/** Lines drawn by chartist, tables collapsed: what charts.js leaves behind when it has run. */
export async function expectChartsDrawn(page: Page) {
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
