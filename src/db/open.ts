import path from 'node:path';
import type { Settings } from '../config.ts';
import { loadOrCreateLocalInstance, type LocalInstance, writeLocalInstance } from '../local-instance.ts';
import { type EmbeddedCluster, openEmbeddedCluster } from './embedded.ts';
import { createDb, type Db } from './knex.ts';

export const EMBEDDED_DEFAULT_PORT = 54329;

export interface OpenDatabase {
  db: Db;
  url: string;
  /** Kept in DATA_DIR: embedded cluster settings and the secrets generated on first start. */
  instance: LocalInstance;
  /** Set in embedded mode. */
  cluster?: EmbeddedCluster;
  close(): Promise<void>;
}

/**
 * The database of this install: DATABASE_URL when set, otherwise the embedded cluster in
 * DATA_DIR/pg (attached to if the server already runs it, started otherwise).
 */
export async function openDatabase(settings: Settings, log: (line: string) => void = () => {}): Promise<OpenDatabase> {
  const instance = loadOrCreateLocalInstance(settings.dataDir, EMBEDDED_DEFAULT_PORT);
  let cluster: EmbeddedCluster | undefined;
  let url = settings.databaseUrl;
  if (!url) {
    cluster = await openEmbeddedCluster({
      dir: path.join(settings.dataDir, 'pg'),
      password: instance.pgPassword,
      port: instance.pgPort,
      database: 'switchboard',
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
      if (cluster?.owned) await cluster.stop();
    },
  };
}
