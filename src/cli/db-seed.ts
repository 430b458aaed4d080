import { seedDemo } from '../../seeds/demo.ts';
import { seedReference } from '../../seeds/reference.ts';
import { runCli } from './run.ts';

await runCli('npm run db:seed   (SEED_DEMO=1 adds the demo history)', {}, async ({ db, settings }) => {
  const added = await seedReference(db);
  console.log(`Reference data: ${added} rows added (existing rows are left as they are).`);
  if (!settings.seedDemo) return;
  const demo = await seedDemo(db);
  if (demo.seeded) console.log(`Demo history: ${demo.events} events, ${demo.assignments} assignments, ${demo.deployments} deployments.`);
  else console.log(demo.skipped ? `Demo history not seeded: ${demo.skipped}.` : 'Demo history is already there.');
});
