import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CallResult, ProviderAdapter, SendRequest, SendResult, SmokePrompt } from './adapter.ts';
import { guardedLookup, isAllowedAddress, isForbiddenAddress, NO_PRIVATE, type PrivateAllowance } from './base-url.ts';

// What a failed call says is stored and shown: it tells what was written in the URL, but never what a
// name resolved to or how an address failed (refused, reset, no route, not allowed), which would map
// the network the server sits in.
const FORBIDDEN = 'the base URL points to a link-local or metadata address, which is never called';
const PRIVATE = 'the base URL points to a private or loopback address that PROVIDER_ALLOWED_PRIVATE does not allow';
const UNREACHABLE = 'the provider could not be reached (nothing answered, or its address is private or link-local and not allowed)';

export interface OpenAiCompatibleOptions {
  baseUrl: string;
  /** Sent as a bearer token to this provider only. */
  apiKey?: string;
  timeoutMs: number;
  /** Private addresses this provider may be called at (PROVIDER_ALLOWED_PRIVATE); none unless given. */
  allowance?: PrivateAllowance;
  /** How names are resolved (the system resolver guarded by `allowance`, unless a test says otherwise). */
  lookup?: LookupFunction;
}

const SMOKE_INPUT = 'Reply with the single word: ok';
/** A smoke request asks for a few tokens of answer at most, whatever the prompt's max_tokens. */
const SMOKE_MAX_TOKENS = 16;

/** The chat completion body of a smoke request: the short input, or a rendered prompt with its parameters. */
const chatBody = (model: string, prompt?: SmokePrompt) => ({
  model,
  messages: [{ role: 'user', content: prompt?.input ?? SMOKE_INPUT }],
  max_tokens: prompt ? Math.min(prompt.max_tokens ?? SMOKE_MAX_TOKENS, SMOKE_MAX_TOKENS) : 5,
  ...(prompt?.temperature !== undefined && { temperature: prompt.temperature }),
  ...(prompt?.stop && { stop: prompt.stop }),
});
/** An answer to a smoke request or a probe is small; anything bigger is not what was asked for (a playground answer or a vector fits). */
const MAX_ANSWER_BYTES = 256 * 1024;

/** What a playground or test call's answer holds: the text or the vector, and the provider's token counts. */
function answerOf(json: unknown): Omit<SendResult, keyof CallResult> {
  const j = json as {
    choices?: { message?: { content?: unknown } }[];
    data?: { embedding?: unknown }[];
    usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
  };
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  const content = j.choices?.[0]?.message?.content;
  const embedding = j.data?.[0]?.embedding;
  return {
    ...(typeof content === 'string' && { text: content }),
    ...(Array.isArray(embedding) && { embedding: embedding.filter((x): x is number => typeof x === 'number') }),
    inputTokens: count(j.usage?.prompt_tokens),
    outputTokens: count(j.usage?.completion_tokens),
  };
}

type Shape = (json: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const firstOf = (v: unknown, key: string) => (isObject(v) && Array.isArray(v[key]) ? (v[key] as unknown[])[0] : undefined);
const CHAT: Shape = (j) => isObject(firstOf(j, 'choices'));
const EMBEDDING: Shape = (j) => Array.isArray((firstOf(j, 'data') as { embedding?: unknown } | undefined)?.embedding);
const MODEL_LIST: Shape = (j) => isObject(j) && Array.isArray(j.data);

interface Answer {
  status: number;
  /** The body as JSON; undefined when it is larger than MAX_ANSWER_BYTES or not JSON. */
  json: unknown;
}

/**
 * One HTTP exchange through node:http(s): the name is resolved once by the guarded lookup and the
 * socket connects to exactly those addresses; redirects are never followed; the whole exchange
 * (DNS included) is under `signal`.
 */
function exchange(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal; lookup: LookupFunction },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: init.method, headers: init.headers, signal: init.signal, lookup: init.lookup },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooBig = false;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            tooBig = true;
            res.destroy();
            resolve({ status: res.statusCode ?? 0, json: undefined });
          } else chunks.push(chunk);
        });
        res.on('end', () => {
          if (tooBig) return;
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
        // Cut off mid-body (a timeout, a reset): reject unless the answer was already settled.
        res.on('close', () => !res.complete && !tooBig && reject(init.signal.reason ?? new Error('the answer was cut off')));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * An OpenAI-compatible provider over HTTP: chat completions, embeddings, and GET /models as the
 * health probe. Every call has a timeout; redirects are never followed (a redirect could carry the
 * credential elsewhere), so a 3xx is a failure.
 */
export function openAiCompatible(o: OpenAiCompatibleOptions): ProviderAdapter {
  const base = o.baseUrl.replace(/\/+$/, '');
  const allowance = o.allowance ?? NO_PRIVATE;
  const lookup = o.lookup ?? guardedLookup(undefined, allowance);
  async function call(method: 'GET' | 'POST', path: string, shape: Shape, body?: object): Promise<CallResult & { json?: unknown }> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const url = new URL(`${base}${path}`);
      // IP literals are connected to without a lookup: check them here.
      if (isForbiddenAddress(url.hostname)) return { ok: false, latencyMs: latency(), error: FORBIDDEN };
      if (!isAllowedAddress(url.hostname, url.hostname, allowance)) return { ok: false, latencyMs: latency(), error: PRIVATE };
      const res = await exchange(url, {
        method,
        signal: AbortSignal.timeout(o.timeoutMs),
        lookup,
        headers: {
          Accept: 'application/json',
          ...(body && { 'Content-Type': 'application/json' }),
          ...(o.apiKey && { Authorization: `Bearer ${o.apiKey}` }),
        },
        body: body && JSON.stringify(body),
      });
      if (res.status >= 300 && res.status < 400) {
        return { ok: false, latencyMs: latency(), error: `the provider answered with a redirect (${res.status}), which is not followed` };
      }
      if (res.status < 200 || res.status >= 300) return { ok: false, latencyMs: latency(), error: `the provider answered ${res.status}` };
      // A 200 from something that is not this API (a proxy, a login page) is not a working model.
      if (!shape(res.json)) return { ok: false, latencyMs: latency(), error: 'the answer is not an OpenAI-compatible response' };
      return { ok: true, latencyMs: latency(), json: res.json };
    } catch (err) {
      // A name refused by the lookup reads like one that did not answer.
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return { ok: false, latencyMs: latency(), error: timedOut ? `no answer within ${o.timeoutMs} ms` : UNREACHABLE };
    }
  }
  const withoutJson = async (p: Promise<CallResult & { json?: unknown }>): Promise<CallResult> => {
    const { json: _json, ...result } = await p;
    return result;
  };
  async function send(model: string, modelType: 'llm' | 'vision' | 'embedding', r: SendRequest): Promise<SendResult> {
    const { json, ...result } =
      modelType === 'embedding'
        ? await call('POST', '/embeddings', EMBEDDING, { model, input: r.input })
        : await call('POST', '/chat/completions', CHAT, {
            model,
            messages: r.messages ?? [{ role: 'user', content: r.input }],
            ...(r.max_tokens !== undefined && { max_tokens: r.max_tokens }),
            ...(r.temperature !== undefined && { temperature: r.temperature }),
            ...(r.stop && { stop: r.stop }),
          });
    return result.ok ? { ...result, ...answerOf(json) } : result;
  }
  return {
    smoke: (model, modelType, prompt) =>
      withoutJson(
        modelType === 'embedding'
          ? call('POST', '/embeddings', EMBEDDING, { model, input: prompt?.input ?? SMOKE_INPUT })
          : call('POST', '/chat/completions', CHAT, chatBody(model, prompt)),
      ),
    send,
    probe: () => withoutJson(call('GET', '/models', MODEL_LIST)),
  };
}
