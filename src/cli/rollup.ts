import { rebuildRollups, runRollup } from '../metrics/rollup.ts';
import { runCli, UsageError } from './run.ts';

const date = (value: string | undefined, flag: string) => {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag} must be an ISO 8601 date, such as 2026-11-01T00:00:00Z`);
  return d;
};

await runCli(
  'npm run rollup -- [--rebuild [--from ISO --to ISO]]',
  { rebuild: { type: 'boolean', default: false }, from: { type: 'string' }, to: { type: 'string' } },
  async ({ db, values }) => {
    const from = date(values.from, '--from');
    const to = date(values.to, '--to');
    if ((from || to) && !values.rebuild) throw new UsageError('--from and --to go with --rebuild');
    if (Boolean(from) !== Boolean(to)) throw new UsageError('--from and --to go together');
    if (from && to && from >= to) throw new UsageError('--from must be before --to');
    if (values.rebuild) {
      const started = Date.now();
      const rows = await rebuildRollups(db, from && to ? { from, to } : undefined);
      console.log(
        `Rebuilt rollups from ${rows} raw rows${from ? ` between ${from.toISOString()} and ${to!.toISOString()} (whole UTC days)` : ''} in ${Date.now() - started} ms.`,
      );
    }
    const run = await runRollup({ db });
    console.log(run.ran ? `Rolled up ${run.rows} new rows; cursor at id ${run.cursor}.` : 'Another rollup is running; nothing done.');
  },
);
