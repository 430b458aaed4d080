import fs from 'node:fs';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { launchBrowser, listen } from '../setup/browser.ts';
import { makeUser } from '../setup/factories.ts';

const SHOTS = 'test/e2e/screenshots';
let t: TestContext;
let browser: Browser;
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  t = startTestApp();
  ({ server, baseUrl } = await listen(t.app));
  browser = await launchBrowser();
  fs.mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await t.close();
});

describe('signing in from a browser', () => {
  it.each([true, false])(
    'when JavaScript is %s, then the form signs in and the shell loads with no CSP violation',
    async (javaScriptEnabled) => {
      const user = await makeUser(t.db, 'admin');
      const context = await browser.newContext({ javaScriptEnabled });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));

      await page.goto(`${baseUrl}/platform/ai-management/models`);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.fill('input[name="email"]', user.email);
      await page.fill('input[name="password"]', user.password);
      await Promise.all([page.waitForURL(`${baseUrl}/platform/ai-management/models`), page.click('button[type="submit"]')]);

      expect(await page.textContent('h1')).toBe('Models & Providers');
      if (javaScriptEnabled) expect(await page.evaluate(() => typeof (window as unknown as { htmx?: unknown }).htmx)).toBe('object');
      await page.screenshot({ path: `${SHOTS}/models-${javaScriptEnabled ? 'js' : 'nojs'}.png`, fullPage: true });

      await Promise.all([page.waitForURL(`${baseUrl}/login`), page.click('form.signout button')]);
      await page.goto(`${baseUrl}/platform/ai-management`);
      expect(new URL(page.url()).pathname).toBe('/login');
      expect(problems).toEqual([]);
      await context.close();
    },
  );
});
