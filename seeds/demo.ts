import { randomUUID } from 'node:crypto';
import { type ColumnMap, columns, type Selected } from '../src/db/columns.ts';
import type { Db } from '../src/db/knex.ts';
import type { NewRow, Row } from '../src/db/tables.ts';
import type { CallResult } from '../src/providers/adapter.ts';
import { type Candidate, deployability, smokeCheck } from '../src/services/deployability.ts';
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

const BY = 'demo-seed';
const DAY_MS = 86_400_000;
type Env = 'development' | 'staging' | 'production';
interface Step {
  model: string;
  daysAgo?: number;
  kind?: 'assign' | 'promote';
}
type DemoFeature = Pick<Row<'ai_features'>, 'id' | 'name' | 'display_name' | 'required_model_type'>;
type ModelJoin = { m: 'ai_models'; p: 'ai_providers' };
const MODEL_COLUMNS = {
  id: 'm.id',
  name: 'm.name',
  display_name: 'm.display_name',
  model_type: 'm.model_type',
  status: 'm.status',
  provider_display_name: 'p.display_name',
  provider_kind: 'p.kind',
} as const satisfies ColumnMap<ModelJoin>;
/** A model as the demo's history saw it: its provider was active, with a key, while it served. */
type DemoModel = Selected<ModelJoin, typeof MODEL_COLUMNS> & Pick<Candidate, 'provider_status' | 'provider_has_key'>;

// Assignment history per feature and environment, oldest first; a step without daysAgo is the start
// of the history. Chatbot: staging tried Claude Sonnet, production got it by promotion, then staging
// moved on to the cheaper Haiku.
const HISTORY: { feature: string; environment: Env; steps: Step[] }[] = [
  { feature: 'photo-tagging', environment: 'production', steps: [{ model: 'gpt-4o' }] },
  { feature: 'photo-tagging', environment: 'staging', steps: [{ model: 'gemini-1.5-flash' }] },
  { feature: 'photo-tagging', environment: 'development', steps: [{ model: 'sim-vision' }] },
  {
    feature: 'chatbot',
    environment: 'production',
    steps: [{ model: 'gpt-4o-mini' }, { model: 'claude-3-5-sonnet-20241022', daysAgo: 10, kind: 'promote' }],
  },
  {
    feature: 'chatbot',
    environment: 'staging',
    steps: [
      { model: 'gpt-4o-mini' },
      { model: 'claude-3-5-sonnet-20241022', daysAgo: 13 },
      { model: 'claude-3-5-haiku-20241022', daysAgo: 7 },
    ],
  },
  { feature: 'chatbot', environment: 'development', steps: [{ model: 'sim-chat' }] },
  { feature: 'ai-search', environment: 'production', steps: [{ model: 'text-embedding-3-small' }] },
  { feature: 'ai-search', environment: 'staging', steps: [{ model: 'text-embedding-3-large' }] },
  { feature: 'ai-search', environment: 'development', steps: [{ model: 'sim-embed' }] },
];

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
  const start = new Date(now.getTime() - (days + 1) * DAY_MS);
  // The story is told for 30 days; a shorter history compresses it so every event stays inside.
  const ago = (d: number) => new Date(now.getTime() - Math.min(d, (d * days) / 30) * DAY_MS);

  return db.transaction(async (trx) => {
    // Demo event ids: a range on the primary key (LIKE cannot use it under a non-C collation).
    // Demo assignments count too, for a history seeded with no events.
    const existing = await trx.raw(
      `SELECT 1 WHERE EXISTS (SELECT 1 FROM ai_usage_event_keys WHERE event_id >= 'demo-' AND event_id < 'demo.')
                   OR EXISTS (SELECT 1 FROM feature_model_assignments WHERE assigned_by = :by)`,
      { by: BY },
    );
    if (existing.rows.length > 0) return { seeded: false, events: 0, assignments: 0, deployments: 0 };

    const features = new Map<string, DemoFeature>(
      (await trx('ai_features').select('id', 'name', 'display_name', 'required_model_type')).map((f) => [f.name, f]),
    );
    const modelRows: Selected<ModelJoin, typeof MODEL_COLUMNS>[] = await trx('ai_models as m')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .select(columns(MODEL_COLUMNS));
    const models = new Map<string, DemoModel>(modelRows.map((m) => [m.name, { ...m, provider_status: 'active', provider_has_key: true }]));
    const feature = (name: string) => features.get(name) ?? fail(`feature ${name}`);
    const model = (name: string) => models.get(name) ?? fail(`model ${name}`);
    const taken = await trx('feature_model_assignments').where({ is_active: true }).count({ n: '*' }).first();
    // An admin's own assignments are never touched: the demo is for a fresh database only.
    if (Number(taken?.n) > 0) {
      return { seeded: false, events: 0, assignments: 0, deployments: 0, skipped: 'the database already has active model assignments' };
    }

    const assignments: NewRow<'feature_model_assignments'>[] = [];
    const deployments: NewRow<'deployments'>[] = [];
    const deploy = (f: string, env: Env, m: string, at: Date, extra: Partial<NewRow<'deployments'>>) => {
      const finished = new Date(at.getTime() + 4200);
      deployments.push({
        feature_id: feature(f).id,
        model_id: model(m).id,
        environment: env,
        requested_by: BY,
        started_at: at,
        finished_at: finished,
        kind: 'assign',
        status: 'success',
        ...extra,
      });
    };
    // The checks as the deployment pipeline makes them (src/services/deployability.ts), smoke request included.
    const checksOf = (f: string, env: Env, m: string, current: string | null, smoke: CallResult) => {
      const checks = deployability(feature(f), model(m), env, current);
      return checks.every((c) => c.ok) ? [...checks, smokeCheck(smoke)] : checks;
    };

    for (const { feature: f, environment: env, steps } of HISTORY) {
      steps.forEach((step, i) => {
        const fr = feature(f);
        const m = model(step.model);
        const previous = i > 0 ? model(steps[i - 1].model).id : null;
        const checks = checksOf(f, env, step.model, previous, { ok: true, latencyMs: 500 + (((assignments.length + 1) * 137) % 900) });
        // The rules the console enforces, kept by the demo too.
        if (!checks.every((c) => c.ok)) throw new Error(`seedDemo: ${step.model} cannot serve ${f} in ${env}`);
        const next = steps[i + 1];
        const at = step.daysAgo === undefined ? start : ago(step.daysAgo);
        const id = randomUUID();
        assignments.push({
          id,
          feature_id: fr.id,
          model_id: m.id,
          environment: env,
          assigned_by: BY,
          assigned_at: at,
          is_active: !next,
          deactivated_at: next?.daysAgo === undefined ? null : ago(next.daysAgo),
        });
        deploy(f, env, step.model, at, {
          kind: step.kind ?? 'assign',
          assignment_id: id,
          previous_model_id: previous,
          checks: JSON.stringify(checks),
        });
      });
    }
    // Two refusals: nothing changes for them (no assignment).
    const refused = (f: string, env: Env, m: string, previous: string, at: Date, smoke: CallResult) => {
      const checks = checksOf(f, env, m, model(previous).id, smoke);
      const failed = checks.find((c) => !c.ok);
      if (!failed) throw new Error(`seedDemo: ${m} was meant to be refused for ${f} in ${env}`);
      deploy(f, env, m, at, {
        status: 'failed',
        previous_model_id: model(previous).id,
        checks: JSON.stringify(checks),
        error: failed.detail,
      });
    };
    refused('chatbot', 'production', 'gpt-3.5-turbo', 'gpt-4o-mini', ago(15), { ok: true, latencyMs: 0 }); // deprecated
    refused('photo-tagging', 'staging', 'gemini-2.0-flash', 'gemini-1.5-flash', ago(20), {
      ok: false,
      latencyMs: 10000,
      error: 'no answer within 10000 ms',
    });
    await trx('feature_model_assignments').insert(assignments);
    await trx('deployments').insert(deployments);

    // Incidents, relative to now: an error spike on photo-tagging, a shorter one on the chatbot,
    // and a slow spell on search.
    const incident = (feature: string, daysAgo: number, minutes: number, error_rate: number | null, latency_factor = 1) => {
      const t_from = ago(daysAgo);
      return { feature, t_from, t_to: new Date(t_from.getTime() + minutes * 60_000), error_rate, latency_factor };
    };
    const incidents = [
      incident('photo-tagging', 6.1, 120, 0.35, 1.3),
      incident('chatbot', 2.05, 40, 0.25),
      incident('ai-search', 4.2, 45, null, 5),
    ];

    await trx.raw('SELECT setseed(0.42)'); // the same history on every run, for tests
    await trx.raw(`SET LOCAL work_mem = '64MB'`); // the event CTE stays in memory
    // Monthly partitions from the history's start through the current month, so no row lands in default.
    await trx.raw(
      `SELECT ensure_usage_partitions(s::date, ((extract(year FROM n) - extract(year FROM s)) * 12
                                                 + extract(month FROM n) - extract(month FROM s))::int + 1)
       FROM (SELECT :start::timestamptz AS s, :now::timestamptz AS n) t`,
      { start: start.toISOString(), now: now.toISOString() },
    );
    const minutes = Math.round(days * 1440);
    const chunk = Math.round((options.chunkDays ?? days) * 1440);
    let events = 0;
    for (let slotFrom = 0; slotFrom < minutes; slotFrom += chunk) {
      const slotTo = Math.min(minutes, slotFrom + chunk);
      const inserted = await trx.raw(USAGE_SQL, {
        now: now.toISOString(),
        minutes,
        slotFrom,
        slotTo,
        total: Math.round(((slotTo - slotFrom) / 1440) * eventsPerDay),
        users: options.users ?? 5000,
        baseError: 0.009,
        timeoutRate: 0.002,
        features: JSON.stringify(FEATURE_PROFILES),
        latency: JSON.stringify(LATENCY),
        incidents: JSON.stringify(incidents),
      });
      events += inserted.rowCount ?? 0;
    }
    // Fresh statistics, so the first dashboard queries are planned for 300k rows, not for none.
    await trx.raw('ANALYZE ai_usage_logs, ai_usage_event_keys');

    const result = { seeded: true, events, assignments: assignments.length, deployments: deployments.length };
    await trx('audit_log').insert({
      actor_type: 'system',
      actor_label: BY,
      action: 'demo.seeded',
      entity_type: 'database',
      after: JSON.stringify({ events: result.events, assignments: result.assignments, deployments: result.deployments }),
    });
    return result;
  });
}

function fail(what: string): never {
  throw new Error(`seedDemo: ${what} is missing; run seedReference first`);
}
