import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateAllowance } from '../../src/providers/base-url.ts';
import { openAiCompatible } from '../../src/providers/openai-compatible.ts';
import { type FakeProvider, fakeProvider } from '../setup/fake-provider.ts';

/** The test servers listen on loopback, a private address the adapter calls only when allowed. */
const LOOPBACK = privateAllowance(['127.0.0.0/8']);

// src/providers/openai-compatible.ts against a provider that answers what it should not: a
// redirect (never followed, so the key goes nowhere else), a page, an answer far too large, nothing.

describe('openAiCompatible (the provider adapter)', () => {
  let server: FakeProvider;
  /** The fake's address without its /v1: each test picks a path of its answers. */
  let url: string;
  beforeAll(async () => {
    server = await fakeProvider((req, res) => {
      if (req.url?.startsWith('/landed')) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      if (req.url?.startsWith('/html'))
        return void res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>Sign in to the proxy</html>');
      if (req.url?.startsWith('/huge'))
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(`{"data":[${'1,'.repeat(200_000)}1]}`);
      res.writeHead(302, { Location: `${url}/landed${req.url}` }).end();
    });
    url = server.url.replace(/\/v1$/, '');
  });
  afterAll(() => server?.close());

  it('when the provider answers 302, then the call fails with a redirect error and the redirect is not followed', async () => {
    const adapter = openAiCompatible({ baseUrl: `${url}/v1/`, apiKey: 'sk-redirect-test', timeoutMs: 2000, allowance: LOOPBACK });
    const smoke = await adapter.smoke('any-model', 'llm');
    expect(smoke).toEqual({
      ok: false,
      latencyMs: expect.any(Number),
      error: 'the provider answered with a redirect (302), which is not followed',
    });
    const embed = await adapter.smoke('any-model', 'embedding');
    expect(embed.ok).toBe(false);
    const probe = await adapter.probe();
    expect(probe.error).toMatch(/redirect \(302\)/);
    expect(server.hits.map((h) => `${h.method} ${h.url}`)).toEqual(['POST /v1/chat/completions', 'POST /v1/embeddings', 'GET /v1/models']);
    expect(server.hits.map((h) => h.auth)).toEqual(new Array(3).fill('Bearer sk-redirect-test'));
  });

  it('when something other than the API answers 200 (a page, or an answer far too large), then the call fails', async () => {
    const html = await openAiCompatible({ baseUrl: `${url}/html/v1`, timeoutMs: 2000, allowance: LOOPBACK }).smoke('any-model', 'llm');
    expect(html).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'the answer is not an OpenAI-compatible response' });
    const huge = await openAiCompatible({ baseUrl: `${url}/huge/v1`, timeoutMs: 2000, allowance: LOOPBACK }).probe();
    expect(huge.error).toBe('the answer is not an OpenAI-compatible response');
  });

  it('when nothing listens at the address, then the call fails as unreachable', async () => {
    const res = await openAiCompatible({ baseUrl: 'http://127.0.0.1:9/v1', timeoutMs: 2000, allowance: LOOPBACK }).probe();
    expect(res).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/^the provider could not be reached/) });
  });
});
