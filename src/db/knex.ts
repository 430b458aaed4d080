import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// COUNT(*) and SUM over integers come back as int8, and money sums as numeric: both fit a JS number
// at this product's scale, and templates and JSON want numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export type Db = Knex;

export function createDb(url: string, poolMax = 10): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: 'switchboard' },
    pool: {
      min: 0,
      max: poolMax,
      // Minute, hour and day buckets are UTC whatever the server's TimeZone setting says. The
      // queries made here read few rows: JIT compilation and parallel workers cost more (tens of
      // milliseconds to start) than they could save. Named statements (namedRaw) are planned per call.
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        conn.query(
          "SET TIME ZONE 'UTC'; SET jit = off; SET max_parallel_workers_per_gather = 0; SET plan_cache_mode = force_custom_plan",
          (err) => done(err, conn),
        );
      },
    },
    acquireConnectionTimeout: 10_000,
  });
}

/** Pings the database; false when it is unreachable. */
export async function databaseIsUp(db: Db): Promise<boolean> {
  const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, 3000, false).unref());
  const ping = db.raw('SELECT 1').then(
    () => true,
    () => false,
  );
  return Promise.race([ping, timeout]);
}
