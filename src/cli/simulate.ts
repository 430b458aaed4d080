import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { activePromptVersionNumbers } from '../db/queries/prompts.ts';
import { createApiKey } from '../services/api-keys.ts';
import { armOf } from '../services/rollout-plan.ts';
import { storedBehaviours } from '../services/simulator-settings.ts';
import { runCli, UsageError } from './run.ts';

interface Route {
  feature: string;
  model: string;
  environment: string;
  /** The prompt version active there (issue 15): sent with each event, so the overview can split by it. */
  promptVersion?: number;
  /** A running rollout there: its candidate (model and/or prompt version) serves the users the documented bucketing picks. */
  rollout?: { salt: string; percent_bp: number; model: string | null; promptVersion: number | null };
}

/**
 * One synthetic request: lognormal latency, failures at the model's simulator error rate when one is
 * stored (else the default), tokens that fit the feature; a rollout's candidate for the users in its arm.
 */
function event(route: Route, failureRate: number, errorRates: Map<string, number>) {
  const gaussian = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  const endUser = `user-${1 + Math.floor(5000 * Math.random() ** 2)}`;
  const r = route.rollout;
  const candidate = r !== undefined && armOf(r.salt, r.percent_bp, endUser) === 'candidate';
  const model = (candidate && r.model) || route.model;
  const promptVersion = (candidate && r.promptVersion) || route.promptVersion;
  const failed = Math.random() < (errorRates.get(model) ?? failureRate);
  const embedding = route.feature === 'ai-search';
  return {
    event_id: `sim-${crypto.randomUUID()}`,
    feature: route.feature,
    model,
    environment: route.environment,
    end_user_id: endUser,
    status: failed ? (Math.random() < 0.2 ? 'timeout' : 'error') : 'success',
    response_time_ms: Math.round((embedding ? 150 : 900) * Math.exp(0.4 * gaussian)),
    input_tokens: embedding ? 30 + Math.floor(Math.random() * 40) : 300 + Math.floor(Math.random() * 700),
    output_tokens: failed || embedding ? 0 : 80 + Math.floor(Math.random() * 300),
    ...(promptVersion !== undefined && { prompt_version: promptVersion }),
    ...(r && { variant: candidate ? 'candidate' : 'stable' }),
  };
}

/** Every assigned (feature, environment), with its active prompt version and its running or paused rollout's candidate. */
async function simulatedRoutes(db: Db): Promise<Route[]> {
  const [assignments, prompts, rollouts] = await Promise.all([
    activeAssignments(db),
    activePromptVersionNumbers(db),
    db('rollouts as r')
      .leftJoin('prompt_versions as v', 'v.id', 'r.candidate_prompt_version_id')
      .whereIn('r.status', ['running', 'paused'])
      .select('r.feature_id', 'r.environment', 'r.salt', 'r.percent_bp', 'r.candidate_model_id', 'v.version'),
  ]);
  return assignments.map((a) => {
    const r = rollouts.find((x) => x.feature_id === a.feature_id && x.environment === a.environment);
    return {
      feature: a.feature_name,
      model: a.model_id,
      environment: a.environment,
      promptVersion: prompts.get(`${a.feature_id}:${a.environment}`),
      rollout: r ? { salt: r.salt, percent_bp: r.percent_bp, model: r.candidate_model_id, promptVersion: r.version } : undefined,
    };
  });
}

/** The simulator's stored error rate of each model, by model id (the settings are kept by model name). */
async function modelErrorRates(db: Db): Promise<Map<string, number>> {
  const behaviours = await storedBehaviours(db);
  const models = await db('ai_models')
    .whereIn('name', [...behaviours.keys()])
    .select('id', 'name');
  return new Map(models.map((m) => [m.id, behaviours.get(m.name)!.errorRate]));
}

await runCli(
  'npm run simulate -- [--url http://localhost:3000] [--rate EVENTS_PER_SECOND] [--seconds N] [--failure-rate 0.02]',
  {
    url: { type: 'string' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '0' },
    'failure-rate': { type: 'string', default: '0.02' },
  },
  async ({ db, settings, values }) => {
    const url = values.url ?? `http://localhost:${settings.port}`;
    const rate = Number(values.rate);
    const seconds = Number(values.seconds);
    const failureRate = Number(values['failure-rate']);
    if (!(Number.isInteger(rate) && rate > 0 && rate <= 1000))
      throw new UsageError('--rate must be a whole number of events per second from 1 to 1000');
    if (!(seconds >= 0)) throw new UsageError('--seconds must be 0 (until Ctrl-C) or more');
    if (!(failureRate >= 0 && failureRate <= 1)) throw new UsageError('--failure-rate must be between 0 and 1');
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!up) throw new UsageError(`No Switchboard server answers at ${url}: start it with npm start (or pass --url)`);
    const routes = await simulatedRoutes(db);
    if (!routes.length) throw new UsageError('No feature has a model assigned yet: assign one first, then simulate its traffic');
    const { key, token } = await createApiKey(
      db,
      { kind: 'system', label: 'simulate' },
      { name: `simulate ${new Date().toISOString()}`, scope: 'ingest' },
    );
    console.log(`Sending about ${rate} events/s to ${url} with ingest key ${key.prefix}… (Ctrl-C to stop)`);
    let stopped = false;
    process.once('SIGINT', () => (stopped = true));
    const until = seconds ? Date.now() + seconds * 1000 : Infinity;
    let sent = 0;
    while (!stopped && Date.now() < until) {
      const tick = Date.now();
      // Rollouts and the simulator's settings are read again each second: a rollback shows in the traffic at once.
      const [live, errorRates] = [await simulatedRoutes(db), await modelErrorRates(db)];
      const events = Array.from({ length: rate }, () => event(live[Math.floor(Math.random() * live.length)], failureRate, errorRates));
      const res = await fetch(`${url}/api/v1/usage`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      if (!res.ok) throw new Error(`the server answered ${res.status}: ${await res.text()}`);
      sent += ((await res.json()) as { accepted: number }).accepted;
      process.stdout.write(`\r${sent} events accepted`);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - tick))));
    }
    console.log(`\nStopped after ${sent} events.`);
  },
);
