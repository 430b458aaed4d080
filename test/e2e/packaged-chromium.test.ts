import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { launchBrowser, listen, signedIn } from '../setup/browser.ts';
import { type ChromiumInstall, findChromium } from '../setup/chromium.ts';
import { makeUser } from '../setup/factories.ts';

// `npm ci && npm test` must be enough on a machine without Debian's Chromium: the browser tests then
// drive the headless Chromium that the @sparticuz/chromium devDependency ships (no download).
let t: TestContext;
let server: Server;
let baseUrl: string;
let install: ChromiumInstall;
let browser: Browser;

beforeAll(async () => {
  vi.stubEnv('CHROMIUM_PATH', '');
  install = await findChromium('/nonexistent/usr/bin/chromium');
  vi.unstubAllEnvs();
  t = startTestApp();
  ({ server, baseUrl } = await listen(t.app));
  browser = await launchBrowser(install);
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

describe('the Chromium shipped as an npm package', () => {
  it("when neither CHROMIUM_PATH nor Debian's Chromium is there, then the packaged one, with its own NSS libraries, signs in and runs htmx with no CSP violation", async () => {
    expect(install.source).toBe('npm');
    expect(install.executablePath).toMatch(/node_modules\/\.cache\/sparticuz-chromium-[\d.]+\/chromium$/);
    expect(install.env?.LD_LIBRARY_PATH).toMatch(/sparticuz-chromium-[\d.]+\/lib/);
    expect(browser.version()).toMatch(/^\d+\./);
    const user = await makeUser(t.db, 'admin');
    const { page, problems, context } = await signedIn(browser, baseUrl, user, '/platform/ai-management');
    await page.waitForFunction(() => 'htmx' in window);
    expect(await page.locator('h1').first().textContent()).toBeTruthy();
    expect(problems).toEqual([]);
    await context.close();
  });

  it('when CHROMIUM_PATH is set, then it wins', async () => {
    vi.stubEnv('CHROMIUM_PATH', '/opt/some/chromium');
    try {
      expect(await findChromium()).toEqual({ executablePath: '/opt/some/chromium', source: 'CHROMIUM_PATH' });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
