import { ensureUsagePartitions } from '../db/partitions.ts';
import { runCli } from './run.ts';

await runCli('npm run db:migrate', {}, async ({ db, applied }) => {
  const partitions = await ensureUsagePartitions(db, new Date());
  for (const name of applied) console.log(`applied ${name}`);
  console.log(`Database schema is up to date (${applied.length} migrations applied, ${partitions} partitions created).`);
});
