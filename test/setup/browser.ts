import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
  type PageScreenshotOptions,
} from 'playwright-core';
import { expect } from 'vitest';
import type { App } from '../../src/app.ts';
import type { TestContext } from './app.ts';
import { type ChromiumInstall, findChromium } from './chromium.ts';
import { makeUser, type TestUser } from './factories.ts';

/** Headless Chromium with nothing that reaches outside this machine. */
export async function launchBrowser(install?: ChromiumInstall): Promise<Browser> {
  const { executablePath, env } = install ?? (await findChromium());
  return chromium.launch({
    executablePath,
    env: env && { ...process.env, ...env },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Serves the app on a free loopback port for a browser. */
export async function listen(app: App): Promise<{ baseUrl: string; server: Server }> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export interface Session {
  context: BrowserContext;
  page: Page;
  /** Console errors (CSP violations among them) and uncaught page errors. */
  problems: string[];
}

/** A fresh browser context and its page, collecting the page's problems. */
async function openSession(browser: Browser, options: BrowserContextOptions): Promise<Session> {
  const context = await browser.newContext(options);
  // Well under the test's timeout, so a missing selector fails with its own message; long enough
  // for a sign-in (argon2) on two busy cores.
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

/** A fresh browser context, signed in through the real login form, on `path`. */
export async function signedIn(
  browser: Browser,
  baseUrl: string,
  user: { email: string; password: string },
  path: string,
  options: BrowserContextOptions = {},
): Promise<Session> {
  const { context, page, problems } = await openSession(browser, options);
  await page.goto(`${baseUrl}${path}`);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('input[name="email"]', user.email);
  await page.fill('input[name="password"]', user.password);
  const answers: string[] = [];
  page.on('response', (r) => r.request().method() === 'POST' && answers.push(`${r.status()} ${r.url()} → ${r.headers().location ?? ''}`));
  await Promise.all([
    page.waitForURL(`${baseUrl}${path}`).catch(async (err: Error) => {
      // Say where the browser is instead, and what the sign-in answered.
      const shown = (await page.textContent('body').catch(() => ''))?.replace(/\s+/g, ' ').trim().slice(0, 400);
      throw new Error(`${err.message}\nthe browser is at ${page.url()}, after ${JSON.stringify(answers)}: ${shown}`);
    }),
    page.click('button[type="submit"]'),
  ]);
  return { context, page, problems };
}

export const SHOTS = 'test/e2e/screenshots';

/** A screenshot of the whole page into test/e2e/screenshots/<name>.png. */
export const shot = (page: Page, name: string, options: PageScreenshotOptions = {}) =>
  page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true, ...options });

/** Marks the window; the mark survives htmx swaps and is gone after a page load: `noReloadMark` reads it back. */
export const markNoReload = (page: Page) => page.evaluate(() => ((window as unknown as { __noReload?: number }).__noReload = 1));
export const noReloadMark = (page: Page) => page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload);

export interface BrowserApp {
  t: TestContext;
  baseUrl: string;
  browser: Browser;
  admin: TestUser;
  /**
   * A fresh browser context, signed in as the admin, on `path`: the first through the real login
   * form, the others with the session cookie it got (one sign-in per file: see test/routes/sign-in-race.test.ts).
   */
  signedIn(path: string, options?: BrowserContextOptions): Promise<Session>;
  /** Closes the browser, the server and the app. */
  close(): Promise<void>;
}

/** The app served on a loopback port, Chromium, and an admin to sign in as. */
export async function openBrowserApp(t: TestContext): Promise<BrowserApp> {
  const { server, baseUrl } = await listen(t.app);
  const browser = await launchBrowser();
  fs.mkdirSync(SHOTS, { recursive: true });
  const admin = await makeUser(t.db, 'admin');
  let storageState: BrowserContextOptions['storageState'];
  return {
    t,
    baseUrl,
    browser,
    admin,
    async signedIn(path, options = {}) {
      if (!storageState) {
        const session = await signedIn(browser, baseUrl, admin, path, options);
        storageState = await session.context.storageState();
        return session;
      }
      const session = await openSession(browser, { ...options, storageState });
      await session.page.goto(`${baseUrl}${path}`);
      expect(session.page.url()).toBe(`${baseUrl}${path}`);
      return session;
    },
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
      await t.close();
    },
  };
}
