import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { savePromptVersion } from '../../src/services/prompt-versions.ts';
import { startTestApp } from '../setup/app.ts';
import { seriousViolations } from '../setup/axe.ts';
import { type BrowserApp, openBrowserApp } from '../setup/browser.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider, makeToken, suffix } from '../setup/factories.ts';
import type { FeatureRecord, ModelRecord } from '../setup/rows.ts';
import { insertUsage, MINUTE, modelRef, type UsageEvent } from '../setup/usage-factory.ts';

// A browser, the app and PostgreSQL share 2 cores with the other test files: allow for a loaded machine.
vi.setConfig({ testTimeout: 120_000 });

// Accessibility (issue 13, item 15): axe-core run in Chromium on every page, signed in and not, at
// desktop width and at 390 px for the overview and the features page; no violation of impact
// serious or critical may remain. Also: every page has one h1, every chart is an image with a name,
// and after a tab swap the keyboard focus is on the swapped tab, not lost on <body>.

const BASE = '/platform/ai-management';

let b: BrowserApp;
let f: FeatureRecord;
let providerSlug: string;
let models: ModelRecord[];
let deploymentId: string;

beforeAll(async () => {
  const t = startTestApp();
  b = await openBrowserApp(t);
  const acme = await makeProvider(t.db, { name: `a11y-${suffix()}`, display_name: 'A11y AI', status: 'active' });
  providerSlug = acme.name;
  models = [
    await makeModel(t.db, { provider_id: acme.id, name: `a11y-one-${suffix()}`, display_name: 'A11y One' }),
    await makeModel(t.db, { provider_id: acme.id, name: `a11y-two-${suffix()}`, display_name: 'A11y Two', status: 'beta' }),
  ];
  f = await makeFeature(t.db, { display_name: `A11y feature ${suffix()}` });
  const assignment = await makeAssignment(t.db, { feature_id: f.id, model_id: models[0].id, environment: 'production' });
  const now = Date.now();
  const events: UsageEvent[] = Array.from({ length: 12 }, (_, i) => ({
    feature_id: f.id,
    model: modelRef(models[i % 2], acme),
    created_at: new Date(now - (5 + i * 97) * MINUTE),
    response_time_ms: 200 + i * 40,
    ...(i === 3 ? { status: 'error' as const } : {}),
  }));
  await insertUsage(t.db, events);
  const [row] = await t
    .db('deployments')
    .insert({
      feature_id: f.id,
      model_id: models[1].id,
      environment: 'production',
      kind: 'assign',
      status: 'success',
      requested_by: 'e2e',
      assignment_id: assignment.id,
      started_at: new Date(now - 10 * MINUTE),
      finished_at: new Date(now - 9 * MINUTE),
    })
    .returning('id');
  deploymentId = row.id;
  await makeToken(t.db, 'ingest'); // the API keys page has a row with its Revoke button
  // The Prompts tab with two versions (and their diff page).
  const system = { kind: 'system', label: 'e2e' } as const;
  await savePromptVersion(t.db, system, f, { template: 'Answer {{question}}', sample_values: { question: 'Why?' } });
  await savePromptVersion(t.db, system, f, {
    template: 'Answer {{question}}\nBe brief.',
    sample_values: { question: 'Why?' },
    temperature: 0.2,
  });
});
afterAll(() => b?.close());

/** Pages whose own structure the test checks besides axe: one h1, named chart images. */
async function structure(page: Page) {
  return page.evaluate(() => ({
    h1: document.querySelectorAll('h1').length,
    h2: document.querySelectorAll('h2').length,
    unnamedCharts: [...document.querySelectorAll('.ct-chart')]
      .filter((c) => c.getAttribute('role') !== 'img' || !c.getAttribute('aria-label'))
      .map((c) => c.closest('figure')?.id ?? '?'),
  }));
}

/** Pages of one part (a form, a message) with no sections; the audit log's belong to the audit work (another item). */
const ONE_PART = new Set(['login', '404', 'model edit', 'model deploy', 'audit']);

async function expectAccessible(page: Page, name: string) {
  await page.waitForLoadState('load');
  const found = await seriousViolations(page);
  expect(found, `${name}: ${JSON.stringify(found, null, 2)}`).toEqual([]);
  const s = await structure(page);
  expect(s.h1, `${name}: number of h1`).toBe(1);
  if (!ONE_PART.has(name.replace(/ at 390 px$/, ''))) expect(s.h2, `${name}: its sections have no h2`).toBeGreaterThan(0);
  expect(s.unnamedCharts, `${name}: charts without role="img" and a label`).toEqual([]);
}

const pages = () => {
  const feature = (tab: string) => `${BASE}/features?${new URLSearchParams({ feature: f.name, tab })}`;
  return {
    overview: BASE,
    'features overview': feature('overview'),
    'features overview by prompt version': `${feature('overview')}&split=prompt_version`,
    'features models': feature('models'),
    'features prompts': feature('prompts'),
    'features prompts diff': `${feature('prompts')}&from=1&to=2`,
    'features testing': feature('testing'),
    'features settings': feature('settings'),
    providers: `${BASE}/models`,
    models: `${BASE}/models?tab=models`,
    deployments: `${BASE}/models?tab=deployments`,
    provider: `${BASE}/providers/${providerSlug}`,
    model: `${BASE}/models/${models[0].id}`,
    compare: `${BASE}/models/compare?ids=${models.map((m) => m.id).join(',')}`,
    'model edit': `${BASE}/models/${models[0].id}/edit`,
    'model deploy': `${BASE}/models/${models[0].id}/deploy`,
    deployment: `${BASE}/deployments/${deploymentId}`,
    audit: `${BASE}/audit`,
    approvals: `${BASE}/approvals`,
    'api keys': `${BASE}/api-keys`,
    alerts: `${BASE}/alerts`,
  };
};

describe('axe-core on every page', () => {
  it('when each signed-in page is opened, then axe finds no serious or critical violation, and it has one h1 and named charts', async () => {
    const { context, page } = await b.signedIn(BASE);
    const failures: string[] = [];
    for (const [name, path] of Object.entries(pages())) {
      await page.goto(`${b.baseUrl}${path}`);
      expect(new URL(page.url()).pathname, name).toBe(path.split('?')[0]);
      try {
        await expectAccessible(page, name);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(failures.join('\n\n')).toBe('');
    await context.close();
  });

  it('when the overview and the features page are seen at 390 px, then axe finds no serious or critical violation', async () => {
    const { context, page } = await b.signedIn(BASE, { viewport: { width: 390, height: 844 } });
    await expectAccessible(page, 'overview at 390 px');
    await page.goto(`${b.baseUrl}${pages()['features overview']}`);
    await expectAccessible(page, 'features at 390 px');
    await context.close();
  });

  it('when signed out, then the login page and a 404 page have no serious or critical violation', async () => {
    const context = await b.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${b.baseUrl}/login`);
    await expectAccessible(page, 'login');
    await context.close();
    const signed = await b.signedIn(BASE);
    const res = await signed.page.goto(`${b.baseUrl}${BASE}/no-such-page-${suffix()}`);
    expect(res?.status()).toBe(404);
    await expectAccessible(signed.page, '404');
    await signed.context.close();
  });
});

describe('a phone (390 px)', () => {
  it('when each signed-in page is opened at 390 px, then nothing needs sideways scrolling: not the page, not a table', async () => {
    const { context, page } = await b.signedIn(BASE, { viewport: { width: 390, height: 844 } });
    const failures: string[] = [];
    for (const [name, path] of Object.entries(pages())) {
      await page.goto(`${b.baseUrl}${path}`);
      await page.waitForLoadState('load');
      const wide = await page.evaluate(() => {
        const over = (el: Element) => el.scrollWidth > el.clientWidth + 1;
        return [
          ...(over(document.documentElement) ? [`the page (${document.documentElement.scrollWidth} px)`] : []),
          ...[...document.querySelectorAll('.table-wrap')]
            .filter(over)
            .map((w) => `table ${w.querySelector('table')?.id || '?'} (${w.scrollWidth} px in ${w.clientWidth})`),
        ];
      });
      if (wide.length) failures.push(`${name}: ${wide.join(', ')}`);
    }
    expect(failures).toEqual([]);
    await context.close();
  });
});

describe('focus after a swap', () => {
  it('when a tab is chosen with the keyboard, then htmx swaps it in and the focus lands in the swapped tab, not on <body>', async () => {
    const { context, page, problems } = await b.signedIn(`${BASE}/models`);
    await page.focus('#catalogue-tab nav.tabs a:text-is("Models")');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#model-cards');
    await page.waitForFunction(() => document.activeElement && document.activeElement !== document.body);
    const focused = await page.evaluate(() => {
      const el = document.activeElement!;
      return { id: el.id, inTab: !!el.closest('#catalogue-tab') };
    });
    expect(focused.inTab, JSON.stringify(focused)).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});
