import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seedDemo } from '../seeds/demo.ts';
import { seedReference } from '../seeds/reference.ts';
import { type EmbeddedCluster, freePort, openEmbeddedCluster } from '../src/db/embedded.ts';
import { createDb, type Db } from '../src/db/knex.ts';
import { migrateLatest } from '../src/db/migrate.ts';

/** A database of the bench's own. */
export interface ScratchDb {
  url: string;
  db: Db;
}

export interface Scratch extends ScratchDb {
  /** One more database on the same server (the 1M companion a larger run measures beside its own), closed with this one. */
  another(): Promise<ScratchDb>;
  close(): Promise<void>;
}

/**
 * A scratch database of the bench's own: a database on BENCH_DATABASE_URL's server, or a
 * temporary embedded PostgreSQL (fsync off: the bench measures queries, not disks).
 */
export async function openScratch(): Promise<Scratch> {
  let cluster: EmbeddedCluster | undefined;
  let dir: string | undefined;
  let server = process.env.BENCH_DATABASE_URL;
  if (!server) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));
    fs.chmodSync(dir, 0o755);
    cluster = await openEmbeddedCluster({
      dir: path.join(dir, 'pg'),
      password: 'bench',
      port: await freePort(),
      database: 'postgres',
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        shared_buffers: '1GB',
        work_mem: '64MB',
        max_wal_size: '4GB',
      },
      log: (line) => {
        if (/PANIC|FATAL|terminated by signal|server process/.test(line)) console.error(`postgres: ${line}`);
      },
    });
    server = cluster.url;
  }
  const made: (ScratchDb & { name: string })[] = [];
  const create = async (): Promise<ScratchDb> => {
    const name = `sb_bench_${Date.now()}_${made.length}`;
    const admin = createDb(server!, 1);
    await admin.raw(`CREATE DATABASE ${name}`);
    await admin.destroy();
    const url = new URL(server!);
    url.pathname = `/${name}`;
    const one = { name, url: url.toString(), db: createDb(url.toString(), 12) };
    made.push(one);
    return one;
  };
  const first = await create();
  return {
    ...first,
    another: create,
    async close() {
      for (const { db } of made) await db.destroy();
      if (cluster) await cluster.stop();
      else {
        const again = createDb(server!, 1);
        for (const { name } of made) await again.raw(`DROP DATABASE ${name} WITH (FORCE)`);
        await again.destroy();
      }
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * N events over 60 days ending now, with the demo's rhythms, incidents and 50k users, generated
 * inside PostgreSQL. Foreign-key triggers are skipped for the load only (the generator joins real
 * ids), which a superuser may do on a scratch database.
 */
export async function buildDataset(scratch: ScratchDb, events: number, now: Date): Promise<number> {
  await migrateLatest(scratch.db);
  await seedReference(scratch.db);
  const loader = createDb(scratch.url, 1); // one connection: the SET below applies to the load
  try {
    await loader.raw('SET session_replication_role = replica');
    const days = 60;
    const result = await seedDemo(loader, { now, days, eventsPerDay: events / days, users: 50_000, chunkDays: 5 });
    return result.events;
  } finally {
    await loader.destroy();
  }
}

/** Bytes on disk per million events: raw usage (partitions, their indexes, the event keys) and the rollups. */
export async function storagePerMillion(db: Db, events: number) {
  const { rows } = await db.raw(`
    SELECT
      (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i WHERE i.inhparent = 'ai_usage_logs'::regclass)
        + pg_total_relation_size('ai_usage_event_keys') AS raw,
      (SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(ARRAY['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day', 'usage_spend_month',
        'usage_minute_counts', 'usage_user_sketches']) t) AS rollups`);
  return {
    raw_bytes_per_million_events: Math.round((Number(rows[0].raw) / events) * 1e6),
    rollup_bytes_per_million_events: Math.round((Number(rows[0].rollups) / events) * 1e6),
  };
}
