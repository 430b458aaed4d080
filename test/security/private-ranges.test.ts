import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config.ts';
import { guardedLookup, isPrivateAddress, NO_PRIVATE, privateAddressProblem, privateAllowance } from '../../src/providers/base-url.ts';
import { openAiCompatible } from '../../src/providers/openai-compatible.ts';
import { closedPort, type FakeProvider, fakeProvider } from '../setup/fake-provider.ts';

describe('isPrivateAddress', () => {
  it('when an address is loopback, private, CGNAT, unspecified, multicast or broadcast, in any spelling, then it is private', () => {
    for (const a of [
      '127.0.0.1',
      '127.255.255.254',
      '0.0.0.0',
      '0.1.2.3',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '100.64.0.1',
      '100.127.255.255',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '198.18.0.1',
      '::1',
      '[::1]',
      '::',
      'fc00::1',
      'fd12:3456:789a::1',
      'FD00::1',
      'ff02::1',
      'fec0::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a00:1',
      '[::ffff:c0a8:1]',
      '64:ff9b::10.0.0.1',
      '::ffff:0:10.0.0.1',
      '::127.0.0.1',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
  });

  it('when an address is public, then it is not private', () => {
    for (const a of [
      '8.8.8.8',
      '1.1.1.1',
      '11.0.0.1',
      '172.15.255.255',
      '172.32.0.0',
      '192.169.0.1',
      '100.63.255.255',
      '100.128.0.0',
      '2001:db8::1',
      '2606:4700::1111',
      '::ffff:808:808',
      '64:ff9b::808:808',
    ]) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });
});

describe('privateAllowance and privateAddressProblem', () => {
  it('when the allowance lists networks and names, then exactly those are accepted as written', () => {
    const allowance = privateAllowance(['10.0.0.0/8', 'llm.internal', '192.168.1.7', 'fd00::/8', 'localhost']);
    for (const url of [
      'http://10.1.2.3/v1',
      'http://192.168.1.7:8000/v1',
      'http://[fd00::5]/v1',
      'http://localhost:11434/v1',
      'http://[::ffff:10.0.0.1]/v1',
    ])
      expect(privateAddressProblem(url, allowance), url).toBeNull();
    for (const url of ['http://192.168.1.8/v1', 'http://127.0.0.1/v1', 'http://172.16.0.1/v1', 'http://[fc00::1]/v1'])
      expect(privateAddressProblem(url, allowance), url).toMatch(/PROVIDER_ALLOWED_PRIVATE/);
  });

  it('when nothing is allowed, then names are left to the connection (not resolved while validating)', () => {
    expect(privateAddressProblem('http://llm.internal/v1', NO_PRIVATE)).toBeNull();
    expect(privateAddressProblem('https://api.openai.com/v1', NO_PRIVATE)).toBeNull();
  });

  it('when an entry is not a name, an address or a CIDR block, then the allowance is refused', () => {
    for (const bad of [
      '10.0.0.0/33',
      'fd00::/129',
      '10.0.0.0/8/8',
      'http://x',
      'a b',
      '10.0.0.0/x',
      '::ffff:10.0.0.0/104',
      '-bad-.example',
    ])
      expect(() => privateAllowance([bad]), bad).toThrow(/not a host name, an IP address or a CIDR block/);
  });
});

describe('PROVIDER_ALLOWED_PRIVATE', () => {
  it('when unset, then nothing is allowed; when set, then its comma-separated entries', () => {
    expect(loadSettings({}).providerAllowedPrivate).toEqual([]);
    expect(loadSettings({ PROVIDER_ALLOWED_PRIVATE: ' 10.0.0.0/8, llm.internal ,' }).providerAllowedPrivate).toEqual([
      '10.0.0.0/8',
      'llm.internal',
    ]);
  });

  it('when an entry is malformed, then the configuration is refused with one readable line', () => {
    expect(() => loadSettings({ PROVIDER_ALLOWED_PRIVATE: '10.0.0.0/8,10.0.0.0/40' })).toThrow(
      'Invalid configuration: PROVIDER_ALLOWED_PRIVATE entry 10.0.0.0/40 is not a host name, an IP address or a CIDR block such as 10.0.0.0/8',
    );
  });
});

describe('at connection time', () => {
  let server: FakeProvider;
  let port: string;
  const resolving =
    (answers: Record<string, string[]>) =>
    (hostname: string, _o: unknown, callback: (e: null, a: { address: string; family: number }[]) => void) =>
      callback(
        null,
        (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
  beforeAll(async () => {
    server = await fakeProvider((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":[]}'));
    port = new URL(server.url).port;
  });
  afterAll(() => server.close());

  const probe = (host: string, answers: Record<string, string[]>, allowance = NO_PRIVATE) =>
    openAiCompatible({
      baseUrl: `http://${host}:${port}/v1`,
      apiKey: 'sk-never-sent',
      timeoutMs: 1000,
      allowance,
      lookup: guardedLookup(resolving(answers), allowance),
    }).probe();

  it('when a public-looking name resolves to a private address, then nothing is sent', async () => {
    const before = server.hits.length;
    expect(await probe('llm.example.com', { 'llm.example.com': ['127.0.0.1'] })).toMatchObject({ ok: false });
    expect(await probe('mixed.example.com', { 'mixed.example.com': ['93.184.216.34', '127.0.0.1'] })).toMatchObject({ ok: false });
    expect(await probe('v6.example.com', { 'v6.example.com': ['::ffff:127.0.0.1'] })).toMatchObject({ ok: false });
    expect(server.hits.length).toBe(before);
  });

  it('when the name or its network is allowed, then the call goes to the address that was checked', async () => {
    const before = server.hits.length;
    expect(await probe('llm.internal', { 'llm.internal': ['127.0.0.1'] }, privateAllowance(['llm.internal']))).toMatchObject({ ok: true });
    expect(await probe('gpu.internal', { 'gpu.internal': ['127.0.0.1'] }, privateAllowance(['127.0.0.0/8']))).toMatchObject({ ok: true });
    expect(server.hits.length).toBe(before + 2);
    expect(server.hits.at(-1)?.auth).toBe('Bearer sk-never-sent');
  });

  it('when another name resolves to the allowed host’s address, then the name allowance does not carry over', async () => {
    const before = server.hits.length;
    expect(await probe('other.example', { 'other.example': ['127.0.0.1'] }, privateAllowance(['llm.internal']))).toMatchObject({
      ok: false,
    });
    expect(server.hits.length).toBe(before);
  });

  it('when a call is refused for its address, then it reads exactly like a provider that does not answer (no network map)', async () => {
    const refused = await probe('llm.example.com', { 'llm.example.com': ['10.9.9.9'] });
    const closed = await openAiCompatible({
      baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
      timeoutMs: 1000,
      allowance: privateAllowance(['127.0.0.1']),
    }).probe();
    const unknown = await probe('nowhere.example', {});
    expect(refused.error).toMatch(/^the provider could not be reached/);
    expect(closed.error).toBe(refused.error);
    expect(unknown.error).toBe(refused.error);
  });

  it('when an IP literal is private and not allowed, then it is refused before any connection, naming the setting', async () => {
    const before = server.hits.length;
    const res = await openAiCompatible({ baseUrl: server.url, apiKey: 'sk-never-sent', timeoutMs: 1000 }).probe();
    expect(res).toMatchObject({ ok: false, error: expect.stringMatching(/PROVIDER_ALLOWED_PRIVATE/) });
    expect(server.hits.length).toBe(before);
  });
});
