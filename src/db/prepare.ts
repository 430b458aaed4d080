import { seedDemo } from '../../seeds/demo.ts';
import { seedReference } from '../../seeds/reference.ts';
import type { Settings } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Db } from './knex.ts';
import { migrateLatest } from './migrate.ts';
import { ensureUsagePartitions } from './partitions.ts';

/** Everything a start does before serving: schema, partitions, reference data, demo data. */
export async function prepareDatabase(db: Db, settings: Settings, logger: Logger): Promise<void> {
  const { rows } = await db.raw('SHOW server_version_num');
  if (Number(rows[0].server_version_num) < 150000)
    throw new Error(`PostgreSQL 15 or newer is needed (this server is ${rows[0].server_version_num})`);
  const applied = await migrateLatest(db);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  await ensureUsagePartitions(db, new Date());
  const added = await seedReference(db);
  if (added) logger.info({ added }, 'reference data seeded');
  if (settings.seedDemo) {
    const demo = await seedDemo(db);
    if (demo.seeded) logger.info(demo, 'demo history seeded');
    if (demo.skipped) logger.warn(`demo history not seeded: ${demo.skipped}`);
  }
}
