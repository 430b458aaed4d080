import type { Db } from '../src/db/knex.ts';
import { BY, loadCatalogue, planHistory, simulateDemoProviders, type Timeline } from './demo-history.ts';
import { seedDemoPrompts } from './demo-prompts.ts';
import { seedDemoTestCases } from './demo-test-cases.ts';
import { USAGE_SQL } from './demo-usage.sql.ts';

/**
 * Demo data for a believable console: assignments with their deployment history in every
 * environment, and a month of usage (≈ 11k events a day) generated inside PostgreSQL.
 * Needs the reference data (seedReference); runs once, in one transaction.
 */
export interface DemoOptions {
  now?: Date;
  days?: number;
  eventsPerDay?: number;
  users?: number;
  /** Generate this many days per statement, to bound memory for large histories (the bench). */
  chunkDays?: number;
}
export interface DemoResult {
  seeded: boolean;
  events: number;
  assignments: number;
  deployments: number;
  /** Why nothing was seeded, when that is not because the demo is already there. */
  skipped?: string;
}

const DAY_MS = 86_400_000;

// Traffic share (slice of a uniform draw) and lognormal token profiles; embeddings have no output.
const FEATURE_PROFILES = [
  { name: 'chatbot', lo: 0, hi: 0.5, in_median: 600, in_sigma: 0.5, out_median: 250, out_sigma: 0.6 },
  { name: 'ai-search', lo: 0.5, hi: 0.82, in_median: 40, in_sigma: 0.5, out_median: 0, out_sigma: 0 },
  { name: 'photo-tagging', lo: 0.82, hi: 1, in_median: 1100, in_sigma: 0.15, out_median: 60, out_sigma: 0.3 },
];

// Lognormal latency per model: median in ms and sigma of the underlying normal.
const LATENCY = [
  ['gpt-4o', 1400, 0.35],
  ['gemini-1.5-flash', 600, 0.35],
  ['gpt-4o-mini', 700, 0.35],
  ['claude-3-5-sonnet-20241022', 1800, 0.4],
  ['claude-3-5-haiku-20241022', 900, 0.35],
  ['text-embedding-3-small', 150, 0.3],
  ['text-embedding-3-large', 230, 0.3],
  ['sim-chat', 80, 0.25],
  ['sim-vision', 80, 0.25],
  ['sim-embed', 80, 0.25],
].map(([model, median_ms, sigma]) => ({ model, median_ms, sigma }));

export async function seedDemo(db: Db, options: DemoOptions = {}): Promise<DemoResult> {
  const now = options.now ?? new Date();
  const days = options.days ?? 30;
  const eventsPerDay = options.eventsPerDay ?? 11_000;
  if (Number.isNaN(now.getTime()) || !(days > 0) || !(eventsPerDay >= 0)) {
    throw new Error('seedDemo: needs a valid now, days > 0 and eventsPerDay >= 0');
  }
  const time: Timeline = {
    start: new Date(now.getTime() - (days + 1) * DAY_MS),
    // The story is told for 30 days; a shorter history compresses it so every event stays inside.
    ago: (d: number) => new Date(now.getTime() - Math.min(d, (d * days) / 30) * DAY_MS),
  };

  return db.transaction(async (trx) => {
    const nothing = { seeded: false, events: 0, assignments: 0, deployments: 0 };
    if (await demoSeeded(trx)) return nothing;
    const taken = await trx('feature_model_assignments').where({ is_active: true }).count({ n: '*' }).first();
    // An admin's own assignments are never touched: the demo is for a fresh database only.
    if (Number(taken?.n) > 0) return { ...nothing, skipped: 'the database already has active model assignments' };

    const simulated = await simulateDemoProviders(trx);
    const history = planHistory(await loadCatalogue(trx), time);
    await trx('feature_model_assignments').insert(history.assignments);
    await trx('deployments').insert(history.deployments);
    await seedDemoPrompts(trx, time);
    await seedDemoTestCases(trx, time);
    const events = await insertUsage(trx, { ...options, now, days, eventsPerDay }, time);

    const result = { seeded: true, events, assignments: history.assignments.length, deployments: history.deployments.length };
    await trx('audit_log').insert({
      actor_type: 'system',
      actor_label: BY,
      action: 'demo.seeded',
      entity_type: 'database',
      after: JSON.stringify({
        events: result.events,
        assignments: result.assignments,
        deployments: result.deployments,
        simulated_providers: simulated,
      }),
    });
    return result;
  });
}

/** Demo events or demo assignments are there already (a history seeded with no events counts too). */
async function demoSeeded(db: Db): Promise<boolean> {
  // Demo event ids: a range on the primary key (LIKE cannot use it under a non-C collation).
  const existing = await db.raw(
    `SELECT 1 WHERE EXISTS (SELECT 1 FROM ai_usage_event_keys WHERE event_id >= 'demo-' AND event_id < 'demo.')
                 OR EXISTS (SELECT 1 FROM feature_model_assignments WHERE assigned_by = :by)`,
    { by: BY },
  );
  return existing.rows.length > 0;
}

/** Generates the month of usage inside PostgreSQL, a chunk of days per statement; returns how many events. */
async function insertUsage(db: Db, o: DemoOptions & { now: Date; days: number; eventsPerDay: number }, time: Timeline): Promise<number> {
  // Incidents, relative to now: an error spike on photo-tagging, a shorter one on the chatbot,
  // and a slow spell on search.
  const incident = (feature: string, daysAgo: number, minutes: number, error_rate: number | null, latency_factor = 1) => {
    const t_from = time.ago(daysAgo);
    return { feature, t_from, t_to: new Date(t_from.getTime() + minutes * 60_000), error_rate, latency_factor };
  };
  const incidents = [
    incident('photo-tagging', 6.1, 120, 0.35, 1.3),
    incident('chatbot', 2.05, 40, 0.25),
    incident('ai-search', 4.2, 45, null, 5),
  ];

  await db.raw('SELECT setseed(0.42)'); // the same history on every run, for tests
  await db.raw(`SET LOCAL work_mem = '64MB'`); // the event CTE stays in memory
  // Monthly partitions from the history's start through the current month, so no row lands in default.
  await db.raw(
    `SELECT ensure_usage_partitions(s::date, ((extract(year FROM n) - extract(year FROM s)) * 12
                                               + extract(month FROM n) - extract(month FROM s))::int + 1)
     FROM (SELECT :start::timestamptz AS s, :now::timestamptz AS n) t`,
    { start: time.start.toISOString(), now: o.now.toISOString() },
  );
  const minutes = Math.round(o.days * 1440);
  const chunk = Math.round((o.chunkDays ?? o.days) * 1440);
  let events = 0;
  for (let slotFrom = 0; slotFrom < minutes; slotFrom += chunk) {
    const slotTo = Math.min(minutes, slotFrom + chunk);
    const inserted = await db.raw(USAGE_SQL, {
      now: o.now.toISOString(),
      minutes,
      slotFrom,
      slotTo,
      total: Math.round(((slotTo - slotFrom) / 1440) * o.eventsPerDay),
      users: o.users ?? 5000,
      baseError: 0.009,
      timeoutRate: 0.002,
      features: JSON.stringify(FEATURE_PROFILES),
      latency: JSON.stringify(LATENCY),
      incidents: JSON.stringify(incidents),
    });
    events += inserted.rowCount ?? 0;
  }
  // Fresh statistics, so the first dashboard queries are planned for 300k rows, not for none.
  await db.raw('ANALYZE ai_usage_logs, ai_usage_event_keys');
  return events;
}
