import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKey, makeProvider, suffix } from '../../setup/factories.ts';
import { closedPort, fakeProvider } from '../../setup/fake-provider.ts';
import { type Catalogue, openCatalogue } from './setup.ts';

// POST /api/platform/ai-management/providers/:id/test, "Test connection": a probe through the
// provider's adapter, its result answered and stored as a manual health check.

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('provider_test');
});
afterAll(() => c?.close());

describe('POST /providers/:id/test (Test connection)', () => {
  it('when the provider is a simulator, then it answers ok and stores a manual health check with status ok', async () => {
    const created = await c
      .api('post', '/providers', {
        name: `sim-${suffix()}`,
        display_name: 'Sim for test',
        kind: 'simulator',
        status: 'active',
      })
      .expect(201);
    const id = created.body.data.id;
    const res = await c.api('post', `/providers/${created.body.data.name}/test`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ success: true, data: { ok: true, latency_ms: expect.any(Number), error: null } });
    const checks = await c.db('health_checks').where({ provider_id: id });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ kind: 'manual', status: 'ok', error: null, model_id: null, latency_ms: res.body.data.latency_ms });
  });

  it('when the base URL is a loopback port nothing listens on, then it answers ok:false with the reason and stores the error', async () => {
    const p = await makeProvider(c.db, { base_url: `http://127.0.0.1:${await closedPort()}/v1`, status: 'active', key: apiKey() });
    const res = await c.api('post', `/providers/${p.id}/test`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.any(String) });
    expect(res.body.data.error.length).toBeGreaterThan(0);
    const checks = await c.db('health_checks').where({ provider_id: p.id });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ kind: 'manual', status: 'error', error: res.body.data.error });
  });

  it('when the provider answers 503, or a redirect, then the test fails with that reason, the redirect is not followed and the errors are stored', async () => {
    const target = await fakeProvider((_req, res) => res.end('{"data":[]}'));
    const failing = await fakeProvider((_req, res) => {
      res.statusCode = 503;
      res.end('{"error":{"message":"down"}}');
    });
    const redirecting = await fakeProvider((_req, res) => {
      res.statusCode = 302;
      res.setHeader('Location', `${target.url}/models`);
      res.end();
    });
    try {
      const down = await makeProvider(c.db, { base_url: failing.url, status: 'active', key: apiKey() });
      const moved = await makeProvider(c.db, { base_url: redirecting.url, status: 'active', key: apiKey() });
      const a = await c.api('post', `/providers/${down.id}/test`, {}).expect(200);
      expect(a.body.data).toMatchObject({ ok: false, error: expect.stringContaining('503') });
      const b = await c.api('post', `/providers/${moved.id}/test`, {}).expect(200);
      expect(b.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/redirect/) });
      expect(target.hits).toEqual([]);
      expect(
        await c.db('health_checks').whereIn('provider_id', [down.id, moved.id]).orderBy('id').select('kind', 'status', 'error'),
      ).toEqual([
        { kind: 'manual', status: 'error', error: a.body.data.error },
        { kind: 'manual', status: 'error', error: b.body.data.error },
      ]);
    } finally {
      await Promise.all([target.close(), failing.close(), redirecting.close()]);
    }
  });

  it('when a stored base URL points to a link-local address (written before validation existed), then the adapter refuses to call it and the refusal is stored', async () => {
    const p = await makeProvider(c.db, { base_url: 'http://169.254.7.7/latest', status: 'active', key: apiKey() });
    const res = await c.api('post', `/providers/${p.id}/test`, {}).expect(200);
    expect(res.body.data).toMatchObject({ ok: false, error: expect.stringMatching(/link-local|metadata/) });
    expect(await c.db('health_checks').where({ provider_id: p.id }).select('kind', 'status', 'error')).toEqual([
      { kind: 'manual', status: 'error', error: res.body.data.error },
    ]);
  });
});
