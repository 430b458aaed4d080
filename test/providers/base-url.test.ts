import { describe, expect, it } from 'vitest';
import { baseUrlProblem, guardedLookup, isForbiddenAddress, privateAllowance } from '../../src/providers/base-url.ts';
import { openAiCompatible } from '../../src/providers/openai-compatible.ts';
import { fakeProvider } from '../setup/fake-provider.ts';
import { UNSAFE_URLS } from './unsafe-urls.ts';

// src/providers/base-url.ts and the adapter's use of it: which addresses and URLs are never called,
// however they are spelt, and a name is resolved once and connected to at the addresses checked.

describe('base URL safety', () => {
  it('isForbiddenAddress: link-local and metadata addresses, in every spelling, are forbidden; ordinary addresses are not', () => {
    for (const a of [
      '169.254.169.254',
      '169.254.0.1',
      '169.254.255.255',
      '[fe80::1]',
      'fe80::1',
      'FE80::abcd',
      'febf::1',
      '::ffff:169.254.169.254',
      '100.100.100.200',
      'fd00:ec2::254',
    ]) {
      expect(isForbiddenAddress(a), a).toBe(true);
    }
    for (const a of [
      '10.0.0.1',
      '127.0.0.1',
      '192.168.1.1',
      '169.253.255.255',
      '169.255.0.1',
      '::1',
      'fec0::1',
      '2001:db8::1',
      '8.8.8.8',
    ]) {
      expect(isForbiddenAddress(a), a).toBe(false);
    }
  });

  it('isForbiddenAddress: the IPv4-mapped metadata address in the hex form URLs normalise it to (::ffff:a9fe:a9fe) is forbidden too', () => {
    expect(new URL('http://[::ffff:169.254.169.254]/').hostname).toBe('[::ffff:a9fe:a9fe]');
    expect(isForbiddenAddress('::ffff:a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('[::ffff:a9fe:a9fe]')).toBe(true);
    expect(isForbiddenAddress('::ffff:a9fe:1')).toBe(true); // 169.254.0.1
    // IPv4-translated and the local-use NAT64 prefix carry an IPv4 address too.
    expect(isForbiddenAddress('::ffff:0:a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('64:ff9b:1::a9fe:a9fe')).toBe(true);
    expect(isForbiddenAddress('64:ff9b:1::808:808')).toBe(false);
  });

  it('baseUrlProblem: every unsafe URL has a problem; https and http URLs of ordinary hosts have none', () => {
    for (const [label, url] of UNSAFE_URLS)
      if (typeof url === 'string') expect.soft(baseUrlProblem(url), label).toEqual(expect.any(String));
    for (const url of [
      'https://api.openai.com/v1',
      'http://127.0.0.1:8080/v1',
      'https://generativelanguage.googleapis.com/v1beta/openai',
      'http://[2001:db8::1]:8443/v1',
    ]) {
      expect(baseUrlProblem(url), url).toBeNull();
    }
    expect(baseUrlProblem('http://METADATA.google.internal./')).toEqual(expect.any(String));
    expect(baseUrlProblem('http://169.254.169.254./')).toEqual(expect.any(String));
  });

  it('the adapter refuses a forbidden address at call time, before any request: IP literals, and names whose lookup answers one (pinned, no second lookup)', async () => {
    // Addresses the check refuses (never the metadata service itself), so no request leaves.
    for (const baseUrl of ['http://169.254.7.7/v1', 'http://[fe80::1]/v1', 'http://[::ffff:169.254.7.7]/v1']) {
      const result = await openAiCompatible({ baseUrl, apiKey: 'sk-never-sent-anywhere', timeoutMs: 300 }).probe();
      expect(result, baseUrl).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    }
    // A name whose (fake) resolver answers a metadata address alongside a good one: refused, nothing sent.
    const provider = await fakeProvider((_req, res) => res.end('{"data":[]}'));
    const port = new URL(provider.url).port;
    const calls: string[] = [];
    const resolver = (answers: Record<string, string[]>) =>
      guardedLookup(
        (hostname, _options, callback) => {
          calls.push(hostname);
          callback(
            null,
            (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
          );
        },
        privateAllowance(['127.0.0.0/8']), // the fake provider listens on loopback
      );
    const rebinding = resolver({ 'rebind.test': ['127.0.0.1', '169.254.169.254'] });
    const refused = await openAiCompatible({
      baseUrl: `http://rebind.test:${port}/v1`,
      apiKey: 'sk-x',
      timeoutMs: 1000,
      lookup: rebinding,
    }).probe();
    expect(refused).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    expect(provider.hits).toHaveLength(0);
    // A name that resolves to an allowed address is connected to at exactly that address, resolved once.
    calls.length = 0;
    const good = await openAiCompatible({
      baseUrl: `http://good.test:${port}/v1`,
      timeoutMs: 1000,
      lookup: resolver({ 'good.test': ['127.0.0.1'] }),
    }).probe();
    expect(good).toMatchObject({ ok: true });
    expect(provider.hits).toHaveLength(1);
    expect(calls).toEqual(['good.test']);
    // A lookup that fails fails the call: closed, never open.
    const failing = guardedLookup((_h, _o, callback) => callback(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' }), []));
    expect(await openAiCompatible({ baseUrl: `http://flaky.test:${port}/v1`, timeoutMs: 1000, lookup: failing }).probe()).toMatchObject({
      ok: false,
    });
    expect(provider.hits).toHaveLength(1);
    await provider.close();
  });
});
