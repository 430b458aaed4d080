import type { CallResult, ProviderAdapter } from './adapter.ts';

export interface OpenAiCompatibleOptions {
  baseUrl: string;
  /** Sent as a bearer token to this provider only. */
  apiKey?: string;
  timeoutMs: number;
}

const SMOKE_INPUT = 'Reply with the single word: ok';

/**
 * An OpenAI-compatible provider over HTTP: chat completions, embeddings, and GET /models as the
 * health probe. Every call has a timeout; redirects are never followed (a redirect could carry the
 * credential elsewhere), so a 3xx is a failure.
 */
export function openAiCompatible(o: OpenAiCompatibleOptions): ProviderAdapter {
  const base = o.baseUrl.replace(/\/+$/, '');
  async function call(method: 'GET' | 'POST', path: string, body?: object): Promise<CallResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs),
        headers: { Accept: 'application/json', ...(body && { 'Content-Type': 'application/json' }), ...(o.apiKey && { Authorization: `Bearer ${o.apiKey}` }) },
        body: body && JSON.stringify(body),
      });
      await res.arrayBuffer();
      if (res.status >= 300 && res.status < 400) return { ok: false, latencyMs: latency(), error: `the provider answered with a redirect (${res.status}), which is not followed` };
      if (!res.ok) return { ok: false, latencyMs: latency(), error: `the provider answered ${res.status}` };
      return { ok: true, latencyMs: latency() };
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return { ok: false, latencyMs: latency(), error: timedOut ? `no answer within ${o.timeoutMs} ms` : 'the provider could not be reached' };
    }
  }
  return {
    smoke: (model, modelType) =>
      modelType === 'embedding'
        ? call('POST', '/embeddings', { model, input: SMOKE_INPUT })
        : call('POST', '/chat/completions', { model, messages: [{ role: 'user', content: SMOKE_INPUT }], max_tokens: 5 }),
    probe: () => call('GET', '/models'),
  };
}
