import type { Db } from './knex.ts';

/** Makes sure ai_usage_logs has monthly partitions from `monthsBack` months ago to `monthsAhead` ahead. */
export async function ensureUsagePartitions(db: Db, now: Date, monthsBack = 1, monthsAhead = 3): Promise<number> {
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, 1));
  const { rows } = await db.raw('SELECT ensure_usage_partitions(?::date, ?) AS created', [
    first.toISOString().slice(0, 10),
    monthsBack + monthsAhead + 1,
  ]);
  return rows[0].created;
}
