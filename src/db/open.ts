import fs from 'node:fs';
import path from 'node:path';
import type { Settings } from '../config.ts';
import { type EmbeddedCluster, isAlive, openEmbeddedCluster } from './embedded.ts';
import { createDb, type Db } from './knex.ts';
import { type LocalInstance, loadOrCreateLocalInstance, writeLocalInstance } from './local-instance.ts';

const EMBEDDED_DEFAULT_PORT = 54329;

export interface OpenDatabase {
  db: Db;
  url: string;
  /** Kept in DATA_DIR: embedded cluster settings and the secrets generated on first start. */
  instance: LocalInstance;
  /** Set in embedded mode. */
  cluster?: EmbeddedCluster;
  close(): Promise<void>;
}

const serverPidFile = (dataDir: string) => path.join(dataDir, 'server.pid');

/** The pid of a live Switchboard server on this DATA_DIR, other than this process. */
function liveServer(dataDir: string): number | undefined {
  const file = serverPidFile(dataDir);
  if (!fs.existsSync(file)) return undefined;
  const pid = Number(fs.readFileSync(file, 'utf8'));
  return pid !== process.pid && isAlive(pid) ? pid : undefined;
}

/**
 * The database of this install: DATABASE_URL when set, otherwise the embedded cluster in
 * DATA_DIR/pg. The server owns the cluster (it adopts one left running, and stops it on exit);
 * a CLI command attaches to the running one, or starts one for itself and stops it unless a
 * server has attached meanwhile.
 */
export async function openDatabase(
  settings: Settings,
  role: 'server' | 'cli',
  log: (line: string) => void = () => {},
): Promise<OpenDatabase> {
  const instance = loadOrCreateLocalInstance(settings.dataDir, EMBEDDED_DEFAULT_PORT);
  if (!settings.databaseUrl && role === 'server') {
    const other = liveServer(settings.dataDir);
    if (other) throw new Error(`another Switchboard server (pid ${other}) is already running on ${settings.dataDir}`);
    fs.writeFileSync(serverPidFile(settings.dataDir), String(process.pid));
  }
  let cluster: EmbeddedCluster | undefined;
  let url = settings.databaseUrl;
  if (!url) {
    cluster = await openEmbeddedCluster({
      dir: path.join(settings.dataDir, 'pg'),
      password: instance.pgPassword,
      port: instance.pgPort,
      database: 'switchboard',
      adopt: role === 'server',
      log,
    });
    url = cluster.url;
    const port = Number(new URL(url).port);
    if (cluster.owned && port !== instance.pgPort) writeLocalInstance(settings.dataDir, { ...instance, pgPort: port });
  }
  const db = createDb(url);
  return {
    db,
    url,
    instance,
    cluster,
    async close() {
      await db.destroy();
      if (cluster?.owned && (role === 'server' || !liveServer(settings.dataDir))) await cluster.stop();
      if (cluster && role === 'server') fs.rmSync(serverPidFile(settings.dataDir), { force: true });
    },
  };
}
