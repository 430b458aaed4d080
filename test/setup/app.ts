import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import type { AppConfig } from '../../src/config.ts';
import { createDb, type Db } from '../../src/db/knex.ts';
import { createLogger } from '../../src/logger.ts';

export const databaseUrl = () => inject('databaseUrl');

/** The SECRETS_KEY of every test app: provider keys sealed with it open in the app. */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7);

export function testConfig(overrides: Partial<AppConfig> = {}): AppConfig {
  return {
    databaseUrl: databaseUrl(),
    sessionSecret: 'test-session-secret-that-is-long-enough-0123456789',
    secretsKey: TEST_SECRETS_KEY,
    logLevel: 'info',
    tzDisplay: 'UTC',
    trustProxy: false,
    cacheTemplates: true,
    sessionIdleMs: 30 * 60 * 1000,
    sessionAbsoluteMs: 12 * 60 * 60 * 1000,
    providerTimeoutMs: 10_000,
    providerAllowedPrivate: ['127.0.0.0/8'], // the fake providers (fake-provider.ts) listen on loopback
    loginLimitScope: `test-${crypto.randomUUID()}`, // sign-in failures counted per test app, as they were before the database kept them
    ...overrides,
  };
}

export interface TestContext {
  app: App;
  db: Db;
  /** Every log line the app wrote, as text. */
  logs: () => string;
  close(): Promise<void>;
}

/** A fresh app on the test database, logging into memory so tests can read what it logged. */
export function startTestApp(overrides: Partial<AppConfig> = {}, db: Db = createDb(databaseUrl(), 5)): TestContext {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const app = createApp({ db, config: testConfig(overrides), logger: createLogger('info', sink) });
  return {
    app,
    db,
    logs: () => lines.join(''),
    async close() {
      await app.close();
      await db.destroy();
    },
  };
}
