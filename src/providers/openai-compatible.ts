import type { CallResult, ProviderAdapter } from './adapter.ts';
import { resolvesToForbiddenAddress } from './base-url.ts';

export interface OpenAiCompatibleOptions {
  baseUrl: string;
  /** Sent as a bearer token to this provider only. */
  apiKey?: string;
  timeoutMs: number;
}

const SMOKE_INPUT = 'Reply with the single word: ok';
/** An answer to a smoke request or a probe is small; anything bigger is not what was asked for. */
const MAX_ANSWER_BYTES = 256 * 1024;

type Shape = (json: unknown) => boolean;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const firstOf = (v: unknown, key: string) => (isObject(v) && Array.isArray(v[key]) ? (v[key] as unknown[])[0] : undefined);
const CHAT: Shape = (j) => isObject(firstOf(j, 'choices'));
const EMBEDDING: Shape = (j) => Array.isArray((firstOf(j, 'data') as { embedding?: unknown } | undefined)?.embedding);
const MODEL_LIST: Shape = (j) => isObject(j) && Array.isArray(j.data);

/** The body as JSON, read up to MAX_ANSWER_BYTES; undefined when it is larger or not JSON. */
async function jsonOf(res: Response): Promise<unknown> {
  if (!res.body) return undefined;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * An OpenAI-compatible provider over HTTP: chat completions, embeddings, and GET /models as the
 * health probe. Every call has a timeout; redirects are never followed (a redirect could carry the
 * credential elsewhere), so a 3xx is a failure.
 */
export function openAiCompatible(o: OpenAiCompatibleOptions): ProviderAdapter {
  const base = o.baseUrl.replace(/\/+$/, '');
  async function call(method: 'GET' | 'POST', path: string, shape: Shape, body?: object): Promise<CallResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      if (await resolvesToForbiddenAddress(base)) return { ok: false, latencyMs: latency(), error: 'the base URL resolves to a link-local or metadata address, which is never called' };
      const res = await fetch(`${base}${path}`, {
        method,
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs),
        headers: { Accept: 'application/json', ...(body && { 'Content-Type': 'application/json' }), ...(o.apiKey && { Authorization: `Bearer ${o.apiKey}` }) },
        body: body && JSON.stringify(body),
      });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        return { ok: false, latencyMs: latency(), error: `the provider answered with a redirect (${res.status}), which is not followed` };
      }
      const json = await jsonOf(res);
      if (!res.ok) return { ok: false, latencyMs: latency(), error: `the provider answered ${res.status}` };
      // A 200 from something that is not this API (a proxy, a login page) is not a working model.
      if (!shape(json)) return { ok: false, latencyMs: latency(), error: 'the answer is not an OpenAI-compatible response' };
      return { ok: true, latencyMs: latency() };
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return { ok: false, latencyMs: latency(), error: timedOut ? `no answer within ${o.timeoutMs} ms` : 'the provider could not be reached' };
    }
  }
  return {
    smoke: (model, modelType) =>
      modelType === 'embedding'
        ? call('POST', '/embeddings', EMBEDDING, { model, input: SMOKE_INPUT })
        : call('POST', '/chat/completions', CHAT, { model, messages: [{ role: 'user', content: SMOKE_INPUT }], max_tokens: 5 }),
    probe: () => call('GET', '/models', MODEL_LIST),
  };
}
