import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { activePromptVersionNumbers } from '../db/queries/prompts.ts';
import { createApiKey } from '../services/api-keys.ts';
import { runCli, UsageError } from './run.ts';

interface Route {
  feature: string;
  model: string;
  environment: string;
  /** The prompt version active there (issue 15): sent with each event, so the overview can split by it. */
  promptVersion?: number;
}

/** Where traffic goes: every active assignment, with the prompt version active for its feature and environment. */
async function routesOf(db: Db): Promise<Route[]> {
  const [assignments, prompts] = await Promise.all([activeAssignments(db), activePromptVersionNumbers(db)]);
  return assignments.map((a) => ({
    feature: a.feature_name,
    model: a.model_id,
    environment: a.environment,
    promptVersion: prompts.get(`${a.feature_id}:${a.environment}`),
  }));
}

/** One synthetic request: lognormal latency, a few failures, tokens that fit the feature. */
function event(route: Route, failureRate: number) {
  const gaussian = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  const failed = Math.random() < failureRate;
  const embedding = route.feature === 'ai-search';
  return {
    event_id: `sim-${crypto.randomUUID()}`,
    feature: route.feature,
    model: route.model,
    environment: route.environment,
    end_user_id: `user-${1 + Math.floor(5000 * Math.random() ** 2)}`,
    status: failed ? (Math.random() < 0.2 ? 'timeout' : 'error') : 'success',
    response_time_ms: Math.round((embedding ? 150 : 900) * Math.exp(0.4 * gaussian)),
    input_tokens: embedding ? 30 + Math.floor(Math.random() * 40) : 300 + Math.floor(Math.random() * 700),
    output_tokens: failed || embedding ? 0 : 80 + Math.floor(Math.random() * 300),
    ...(route.promptVersion !== undefined && { prompt_version: route.promptVersion }),
  };
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
    let routes = await routesOf(db);
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
      // Read again every 10 seconds, so an activation or a model change shows in the traffic.
      if (sent > 0 && Math.floor(tick / 1000) % 10 === 0) {
        const fresh = await routesOf(db);
        if (fresh.length) routes = fresh;
      }
      const events = Array.from({ length: rate }, () => event(routes[Math.floor(Math.random() * routes.length)], failureRate));
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
