import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface Behaviour {
  /** How long each answer takes. */
  latencyMs: number;
  /** The share of calls (0–1) answered with a 503. */
  errorRate: number;
}

const DEFAULT: Behaviour = { latencyMs: 40, errorRate: 0 };

export interface Simulator {
  url: string;
  /** Sets how a model behaves in this process from now on, over what the stored settings say (the default is quick and healthy). */
  configure(model: string, behaviour: Partial<Behaviour>): void;
  /** Rereads the stored settings at the next call (after this instance changed them). */
  reload(): void;
  close(): Promise<void>;
}

/** Where the stored behaviours come from (the simulator_behaviours table), by model name. */
export type BehaviourSource = () => Promise<Map<string, Behaviour>>;

/** How long stored behaviours are trusted before a call rereads them: another instance's change shows within it. */
const RELOAD_MS = 2000;

/**
 * An OpenAI-compatible provider the app serves itself on a loopback port: GET /v1/models,
 * POST /v1/chat/completions and /v1/embeddings, with a latency and an error rate per model. The
 * demo data and the tests reach it through the same HTTP adapter as a real provider.
 */
export async function startSimulator(source: BehaviourSource = async () => new Map()): Promise<Simulator> {
  const behaviours = new Map<string, Behaviour>();
  let stored = new Map<string, Behaviour>();
  let loadedAt = Number.NEGATIVE_INFINITY;
  const load = async () => {
    if (Date.now() - loadedAt < RELOAD_MS) return;
    // An unreadable store (the database away) keeps what was last read.
    stored = await source().catch(() => stored);
    loadedAt = Date.now();
  };
  const behaviourOf = (model: unknown) => (typeof model === 'string' && (behaviours.get(model) ?? stored.get(model))) || DEFAULT;
  const app = express();
  app.disable('x-powered-by');
  // A rendered prompt (up to 100 kB of template and its values) fits.
  app.use(express.json({ limit: '1mb' }));

  app.get('/v1/models', async (_req, res) => {
    await load();
    res.json({
      object: 'list',
      data: [...new Set([...stored.keys(), ...behaviours.keys()])].map((id) => ({
        id,
        object: 'model',
        owned_by: 'switchboard-simulator',
      })),
    });
  });

  const answer =
    (shape: (model: string) => object): express.RequestHandler =>
    async (req, res) => {
      const model = (req.body as { model?: unknown } | undefined)?.model;
      if (typeof model !== 'string' || !model) return void res.status(400).json({ error: { message: 'model is required' } });
      await load();
      const b = behaviourOf(model);
      setTimeout(() => {
        if (Math.random() < b.errorRate) return void res.status(503).json({ error: { message: 'simulated failure' } });
        res.json(shape(model));
      }, b.latencyMs);
    };
  app.post(
    '/v1/chat/completions',
    answer((model) => ({
      id: 'sim-chat',
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 },
    })),
  );
  app.post(
    '/v1/embeddings',
    answer((model) => ({
      object: 'list',
      model,
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
      usage: { prompt_tokens: 8, total_tokens: 8 },
    })),
  );

  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    configure: (model, behaviour) => behaviours.set(model, { ...behaviourOf(model), ...behaviour }),
    reload: () => {
      loadedAt = Number.NEGATIVE_INFINITY;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
