import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { App } from '../../src/app.ts';

/** Debian's Chromium, headless, with nothing that reaches outside this machine. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
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

/** A fresh browser context, signed in through the real login form, on `path`. */
export async function signedIn(
  browser: Browser,
  baseUrl: string,
  user: { email: string; password: string },
  path: string,
  options: BrowserContextOptions = {},
): Promise<Session> {
  const context = await browser.newContext(options);
  // Well under the test's timeout, so a missing selector fails with its own message; long enough
  // for a sign-in (argon2) on two busy cores.
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(`${baseUrl}${path}`);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.fill('input[name="email"]', user.email);
  await page.fill('input[name="password"]', user.password);
  await Promise.all([page.waitForURL(`${baseUrl}${path}`), page.click('button[type="submit"]')]);
  return { context, page, problems };
}
