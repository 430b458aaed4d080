import fs from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
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
import { makeUser, type TestUser } from './factories.ts';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

export interface ChromiumInstall {
  executablePath: string;
  /** Environment for the browser process (the shared libraries shipped beside a packaged Chromium). */
  env?: Record<string, string>;
  source: 'CHROMIUM_PATH' | 'debian' | 'npm';
}

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The entries of a plain tar archive (files and folders; the archives unpacked here have nothing else). */
function untar(archive: Buffer, into: string) {
  const text = (at: number, length: number) => archive.toString('utf8', at, at + length).replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= archive.length && archive[at] !== 0; ) {
    const name = path.posix.join(text(at + 345, 155), text(at, 100));
    const size = Number.parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1) || '0';
    const target = path.join(into, name);
    if (name.split('/').includes('..') || path.isAbsolute(name)) throw new Error(`unsafe path in archive: ${name}`);
    if (type === '5') fs.mkdirSync(target, { recursive: true });
    else if (type === '0') {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, archive.subarray(at + 512, at + 512 + size), { mode: Number.parseInt(text(at + 100, 8), 8) & 0o777 });
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
}

/**
 * The headless Chromium that the @sparticuz/chromium npm package ships brotli-compressed, with the
 * NSS libraries it needs and a font, unpacked once into node_modules/.cache. Nothing is downloaded.
 */
async function packagedChromium(): Promise<ChromiumInstall> {
  const pkg = path.resolve(path.dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..');
  const { version } = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string };
  const dir = path.resolve(pkg, '..', '..', '.cache', `sparticuz-chromium-${version}`);
  const binary = path.join(dir, 'chromium');
  if (!executable(binary)) {
    // Unpacked beside, then renamed: two test workers may get here at once.
    const work = `${dir}.${process.pid}`;
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    const bin = (file: string) => path.join(pkg, 'bin', file);
    await pipeline(
      fs.createReadStream(bin('chromium.br')),
      zlib.createBrotliDecompress(),
      fs.createWriteStream(path.join(work, 'chromium'), { mode: 0o755 }),
    );
    untar(zlib.brotliDecompressSync(fs.readFileSync(bin('al2023.tar.br'))), work);
    untar(zlib.brotliDecompressSync(fs.readFileSync(bin('fonts.tar.br'))), work);
    const fontDir = path.join(dir, 'fonts');
    const cacheDir = path.join(dir, 'fonts-cache');
    fs.writeFileSync(
      path.join(work, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${fontDir}</dir><cachedir>${cacheDir}</cachedir></fontconfig>\n`,
    );
    try {
      fs.renameSync(work, dir);
    } catch (err) {
      fs.rmSync(work, { recursive: true, force: true });
      if (!executable(binary)) throw err;
    }
  }
  const libraries = path.join(dir, 'lib');
  const env: Record<string, string> = { LD_LIBRARY_PATH: [libraries, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  // A machine without fontconfig's own configuration gets the packaged font.
  if (!fs.existsSync('/etc/fonts/fonts.conf')) env.FONTCONFIG_FILE = path.join(dir, 'fonts.conf');
  return { executablePath: binary, env, source: 'npm' };
}

/**
 * Which Chromium the browser tests drive: CHROMIUM_PATH when set, else Debian's (`apt-get install
 * chromium`, what CI installs when it can), else the one a devDependency ships — so `npm ci && npm
 * test` is enough on a machine without either.
 */
export async function findChromium(debian = DEBIAN_CHROMIUM): Promise<ChromiumInstall> {
  if (process.env.CHROMIUM_PATH) return { executablePath: process.env.CHROMIUM_PATH, source: 'CHROMIUM_PATH' };
  if (executable(debian)) return { executablePath: debian, source: 'debian' };
  return packagedChromium();
}

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
