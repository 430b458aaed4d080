import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { savePromptVersion } from '../../../src/services/prompt-versions.ts';
import { startTestApp } from '../../setup/app.ts';
import { type BrowserApp, markNoReload, noReloadMark, openBrowserApp, shot } from '../../setup/browser.ts';
import { makeFeature, suffix } from '../../setup/factories.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { HOUR, insertUsage, MINUTE, modelsByName, type UsageEvent } from '../../setup/usage-factory.ts';
import { ago, expectChartsDrawn, featureUrl, query } from './setup.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 60_000 });

// Issue 15 in a browser: "Split by: Prompt version" swaps the overview in place, and the charts draw
// one series per version with the prompt activation as a labelled marker.

const SYSTEM = { kind: 'system', label: 'e2e' } as const;

let b: BrowserApp;
let f: FeatureRecord;
beforeAll(async () => {
  b = await openBrowserApp(startTestApp());
  const { t } = b;
  f = await makeFeature(t.db, { display_name: `Split ${suffix()}` });
  const v1 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer {{q}}', sample_values: { q: 'Why?' } })).version;
  const v2 = (await savePromptVersion(t.db, SYSTEM, f, { template: 'Answer briefly {{q}}', sample_values: { q: 'Why?' } })).version;
  const switched = ago(6 * HOUR);
  await t.db('prompt_activations').insert([
    {
      feature_id: f.id,
      prompt_version_id: v1.id,
      environment: 'production',
      is_active: false,
      activated_at: ago(2 * 24 * HOUR),
      activated_by: 'e2e',
      deactivated_at: switched,
    },
    {
      feature_id: f.id,
      prompt_version_id: v2.id,
      environment: 'production',
      activated_at: switched,
      activated_by: 'e2e',
      previous_version_id: v1.id,
    },
  ]);
  const mini = (await modelsByName(t.db)).get('gpt-4o-mini')!;
  const events: UsageEvent[] = [];
  for (let at = 5 * MINUTE; at < 20 * HOUR; at += 30 * MINUTE) {
    const after = at < 6 * HOUR;
    events.push({ feature_id: f.id, model: mini, prompt_version: after ? 2 : 1, response_time_ms: after ? 900 : 300, created_at: ago(at) });
  }
  await insertUsage(t.db, events);
});
afterAll(() => b?.close());

describe('the overview split by prompt version, with JavaScript', () => {
  it('when "Prompt version" is chosen, then htmx swaps the overview, pushes the URL, and each chart draws a series per version and the activation marker', async () => {
    const { context, page, problems } = await b.signedIn(featureUrl(f.name));
    await expectChartsDrawn(page);
    // Not split: the activation is marked already.
    expect(await page.locator('#chart-latency svg line.ct-marker title').textContent()).toBe('production: prompt v1 → v2 activated');
    await markNoReload(page);

    await page.click('#feature-overview nav.splits a:text-is("Prompt version")');
    await page.waitForSelector('#by-prompt-version');
    await page.waitForURL((u) => u.searchParams.get('split') === 'prompt_version');
    expect(query(page)).toMatchObject({ feature: f.name, split: 'prompt_version' });
    expect(await noReloadMark(page)).toBe(1);
    await expectChartsDrawn(page);
    for (const id of ['chart-latency', 'chart-throughput', 'chart-errors']) {
      const drawn = await page.evaluate(
        (id) => ({
          a: document.querySelectorAll(`#${id} svg .ct-series-a .ct-line`).length,
          b: document.querySelectorAll(`#${id} svg .ct-series-b .ct-line`).length,
          markers: [...document.querySelectorAll(`#${id} svg line.ct-marker title`)].map((t) => t.textContent),
          label: document.querySelector(`#${id} svg text.ct-marker-label`)?.textContent,
        }),
        id,
      );
      expect(drawn, id).toEqual({
        a: expect.any(Number),
        b: expect.any(Number),
        markers: ['production: prompt v1 → v2 activated'],
        label: '→ prompt v2',
      });
      expect(drawn.a, id).toBeGreaterThan(0);
      expect(drawn.b, id).toBeGreaterThan(0);
    }
    expect(await page.locator('#chart-latency .legend li').allTextContents()).toEqual(expect.arrayContaining(['v1', 'v2']));
    await shot(page, 'features-split-by-prompt-version');

    // Back to the whole: the table goes, the mean and p95 come back.
    await page.click('#feature-overview nav.splits a:text-is("Whole")');
    await page.waitForSelector('#by-prompt-version', { state: 'detached' });
    expect(query(page).split).toBeUndefined();
    await expectChartsDrawn(page);
    expect(problems).toEqual([]);
    await context.close();
  });
});
