import { randomUUID } from 'node:crypto';
import { type ColumnMap, columns, MODEL_IDENTITY, type ModelJoin, type Selected } from '../src/db/columns.ts';
import type { Db } from '../src/db/knex.ts';
import type { NewRow, Row } from '../src/db/tables.ts';
import type { Environment } from '../src/domain.ts';
import type { CallResult } from '../src/providers/adapter.ts';
import { type Candidate, deployability, smokeCheck } from '../src/services/deployability.ts';

// The demo's assignments and the deployments that made them, planned before anything is written.

export const BY = 'demo-seed';

interface Step {
  model: string;
  daysAgo?: number;
  kind?: 'assign' | 'promote';
}

// Assignment history per feature and environment, oldest first; a step without daysAgo is the start
// of the history. Chatbot: staging tried Claude Sonnet, production got it by promotion, then staging
// moved on to the cheaper Haiku.
const HISTORY: { feature: string; environment: Environment; steps: Step[] }[] = [
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

/** Deployments the demo shows refused: the model then serving (previous) stayed. */
const REFUSALS: { feature: string; environment: Environment; model: string; previous: string; daysAgo: number; smoke: CallResult }[] = [
  {
    feature: 'chatbot',
    environment: 'production',
    model: 'claude-3-5-haiku-20241022',
    previous: 'gpt-4o-mini',
    daysAgo: 15,
    smoke: { ok: false, latencyMs: 2300, error: 'the provider answered 503' },
  },
  {
    feature: 'photo-tagging',
    environment: 'staging',
    model: 'gemini-2.0-flash',
    previous: 'gemini-1.5-flash',
    daysAgo: 20,
    smoke: { ok: false, latencyMs: 10000, error: 'no answer within 10000 ms' },
  },
];

/** The demo's clock: when its history starts, and a day count back from now (compressed into shorter histories). */
export interface Timeline {
  start: Date;
  ago: (days: number) => Date;
}

const MODEL_COLUMNS = {
  ...MODEL_IDENTITY,
  provider_display_name: 'p.display_name',
  provider_kind: 'p.kind',
  provider_status: 'p.status',
} as const satisfies ColumnMap<ModelJoin>;

/** The reference features and models, by name, as the demo's history saw them. */
export interface DemoCatalogue {
  feature(name: string): Pick<Row<'ai_features'>, 'id' | 'name' | 'display_name' | 'required_model_type'>;
  model(name: string): Candidate & { name: string };
}

export async function loadCatalogue(db: Db): Promise<DemoCatalogue> {
  const features = new Map((await db('ai_features').select('id', 'name', 'display_name', 'required_model_type')).map((f) => [f.name, f]));
  const rows: (Selected<ModelJoin, typeof MODEL_COLUMNS> & { provider_has_key: boolean })[] = await db('ai_models as m')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .select(...columns(MODEL_COLUMNS), db.raw('p.api_key_last4 IS NOT NULL AS provider_has_key'));
  // The providers as they are now (simulateDemoProviders first): the history is checked against the rules as they stand.
  const models = new Map(rows.map((m) => [m.name, m]));
  return {
    feature: (name) => features.get(name) ?? missing(`feature ${name}`),
    model: (name) => models.get(name) ?? missing(`model ${name}`),
  };
}

/** Every model the demo's history names: those that serve or served, and those it was refused. */
export const DEMO_MODELS = [...new Set([...HISTORY.flatMap((h) => h.steps.map((s) => s.model)), ...REFUSALS.map((r) => r.model)])];

/**
 * The demo has no keys for the real providers, so the providers of its models are answered by the
 * built-in simulator (kind simulator, active, no base URL or key): every model that serves or served
 * can serve again, roll back included, and the console labels them simulated. Returns their names.
 */
export async function simulateDemoProviders(db: Db): Promise<string[]> {
  const names = await db('ai_providers as p')
    .join('ai_models as m', 'm.provider_id', 'p.id')
    .whereIn('m.name', DEMO_MODELS)
    .whereNot('p.kind', 'simulator')
    .distinct('p.name')
    .pluck('p.name');
  await db('ai_providers').whereIn('name', names).update({
    kind: 'simulator',
    base_url: null,
    status: 'active',
    api_key_ciphertext: null,
    api_key_last4: null,
    updated_at: db.fn.now(),
  });
  return names;
}

export interface DemoHistory {
  assignments: NewRow<'feature_model_assignments'>[];
  deployments: NewRow<'deployments'>[];
}

/** Every step of HISTORY as an assignment and its successful deployment, then two refused deployments. */
export function planHistory(c: DemoCatalogue, time: Timeline): DemoHistory {
  const history: DemoHistory = { assignments: [], deployments: [] };
  for (const { feature, environment, steps } of HISTORY) {
    steps.forEach((step, i) => planStep(history, c, time, { feature, environment, step, previous: steps[i - 1], next: steps[i + 1] }));
  }
  // Nothing changes for a refusal (no assignment); each is refused by its smoke request, which no rule foresees.
  for (const r of REFUSALS) {
    const checks = checksOf(c, r.feature, r.environment, r.model, c.model(r.previous).id, r.smoke);
    const failed = checks.find((check) => !check.ok);
    if (!failed) throw new Error(`seedDemo: ${r.model} was meant to be refused for ${r.feature} in ${r.environment}`);
    const extra = {
      status: 'failed' as const,
      previous_model_id: c.model(r.previous).id,
      checks: JSON.stringify(checks),
      error: failed.detail,
    };
    history.deployments.push(deploymentRow(c, r.feature, r.environment, r.model, time.ago(r.daysAgo), extra));
  }
  return history;
}

function planStep(
  history: DemoHistory,
  c: DemoCatalogue,
  time: Timeline,
  s: { feature: string; environment: Environment; step: Step; previous?: Step; next?: Step },
): void {
  const previous = s.previous ? c.model(s.previous.model).id : null;
  const latencyMs = 500 + (((history.assignments.length + 1) * 137) % 900);
  const checks = checksOf(c, s.feature, s.environment, s.step.model, previous, { ok: true, latencyMs });
  // The rules the console enforces, kept by the demo too.
  if (!checks.every((check) => check.ok)) throw new Error(`seedDemo: ${s.step.model} cannot serve ${s.feature} in ${s.environment}`);
  const at = s.step.daysAgo === undefined ? time.start : time.ago(s.step.daysAgo);
  const id = randomUUID();
  history.assignments.push({
    id,
    feature_id: c.feature(s.feature).id,
    model_id: c.model(s.step.model).id,
    environment: s.environment,
    assigned_by: BY,
    assigned_at: at,
    is_active: !s.next,
    deactivated_at: s.next?.daysAgo === undefined ? null : time.ago(s.next.daysAgo),
  });
  history.deployments.push(
    deploymentRow(c, s.feature, s.environment, s.step.model, at, {
      kind: s.step.kind ?? 'assign',
      assignment_id: id,
      previous_model_id: previous,
      checks: JSON.stringify(checks),
    }),
  );
}

/** The checks as the deployment pipeline makes them (src/services/deployability.ts), smoke request included. */
function checksOf(c: DemoCatalogue, feature: string, environment: Environment, model: string, current: string | null, smoke: CallResult) {
  const checks = deployability(c.feature(feature), c.model(model), environment, current);
  return checks.every((check) => check.ok) ? [...checks, smokeCheck(smoke)] : checks;
}

function deploymentRow(
  c: DemoCatalogue,
  feature: string,
  environment: Environment,
  model: string,
  at: Date,
  extra: Partial<NewRow<'deployments'>>,
): NewRow<'deployments'> {
  return {
    feature_id: c.feature(feature).id,
    model_id: c.model(model).id,
    environment,
    requested_by: BY,
    started_at: at,
    finished_at: new Date(at.getTime() + 4200),
    kind: 'assign',
    status: 'success',
    ...extra,
  };
}

function missing(what: string): never {
  throw new Error(`seedDemo: ${what} is missing; run seedReference first`);
}
