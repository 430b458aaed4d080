import type { Db } from '../src/db/knex.ts';
import { run } from '../src/jobs/alerts.ts';

const MINUTE = 60_000;

/**
 * The alerts job's tick with 200 features in use, each with a budget (their default rules: error rate
 * and p95 in production, 5-minute windows, spend this month; and the budget marks): tops the data
 * set's features up to 200, then times one tick per minute, `ticks` times, each evaluating one
 * minute. Milliseconds per tick.
 */
export async function alertTicks(db: Db, ticks = 5): Promise<number[]> {
  const inUse = Number((await db('ai_features').whereNull('archived_at').count({ n: '*' }).first())?.n ?? 0);
  const missing = Math.max(0, 200 - inUse);
  if (missing) {
    await db('ai_features').insert(
      Array.from({ length: missing }, (_v, i) => ({
        name: `bench-alerts-${i}`,
        display_name: `Bench alerts ${i}`,
        required_model_type: 'llm' as const,
      })),
    );
  }
  await db('ai_features').whereNull('monthly_budget_usd').update({ monthly_budget_usd: 1000 });
  const start = Math.floor(Date.now() / MINUTE) * MINUTE;
  await run({ db, now: new Date(start - MINUTE) }); // makes the default rules and alert rows
  const ms: number[] = [];
  for (let i = 0; i < ticks; i++) {
    const t = performance.now();
    await run({ db, now: new Date(start + i * MINUTE) });
    ms.push(performance.now() - t);
  }
  return ms;
}
