import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../setup/app.ts';
import { makeFeature, makeModel, makeProvider, makeToken, suffix } from '../setup/factories.ts';
import { type ModelsTab, openModelsTab } from './feature-models-tab/setup.ts';

// GET /api/v1/features/:name/config, the runtime config the product reads: the feature's status and
// the model serving an environment (never a credential), with an ETag that changes the moment the
// assignment or the status does.

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('GET /api/v1/features/:name/config', () => {
  const config = (name: string, token: string | undefined, environment = 'staging', etag?: string) => {
    const req = request(t.app).get(`/api/v1/features/${name}/config?environment=${environment}`);
    if (token) req.set('Authorization', `Bearer ${token}`);
    if (etag) req.set('If-None-Match', etag);
    return req;
  };

  it('when read and ingest tokens ask, then the same config and ETag, a 304 for that ETag, and a new ETag after a deployment and after a status change', async () => {
    const [read, ingest] = [(await makeToken(t.db, 'read')).token, (await makeToken(t.db, 'ingest')).token];
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);

    const res = await config(f.name, read).expect(200).expect('content-type', /json/);
    expect(res.body).toMatchObject({
      feature: f.name,
      environment: 'staging',
      status: 'active',
      model: { id: first.id, name: first.name, type: 'llm', provider: 'simulator', provider_kind: 'simulator', base_url: null },
      prompt: null,
      settings: { error_rate_threshold: 5, latency_threshold_ms: 2000, monthly_budget_usd: null },
      version: expect.stringMatching(/^[\w-]{22}$/),
    });
    const etag = res.headers.etag;
    expect(etag).toBe(`"${res.body.version}"`);
    expect(res.headers['cache-control']).toBe('no-cache');
    const viaIngest = await config(f.name, ingest).expect(200);
    expect([viaIngest.headers.etag, viaIngest.body]).toEqual([etag, res.body]);
    const unchanged = await config(f.name, read, 'staging', etag).expect(304);
    expect([unchanged.text ?? '', unchanged.headers.etag]).toEqual(['', etag]);
    expect((await config(f.name, read, 'production').expect(200)).body.model).toBeNull();

    await c.changed(f.name, second);
    const deployed = await config(f.name, read, 'staging', etag).expect(200);
    expect(deployed.headers.etag).not.toBe(etag);
    expect(deployed.body.model.name).toBe(second.name);
    await config(f.name, ingest, 'staging', deployed.headers.etag).expect(304);

    await t.db('ai_features').where({ id: f.id }).update({ status: 'maintenance' });
    const paused = await config(f.name, ingest, 'staging', deployed.headers.etag).expect(200);
    expect(paused.headers.etag).not.toBe(deployed.headers.etag);
    expect(paused.body.status).toBe('maintenance');
    expect(paused.body.model.name).toBe(second.name);
  });

  it("when the serving model's provider has an encrypted API key, then the config names the provider and its base URL but never the key", async () => {
    const read = (await makeToken(t.db, 'read')).token;
    const name = `keyed-${suffix()}`;
    const provider = await makeProvider(t.db, {
      name,
      display_name: `Keyed ${name}`,
      base_url: c.sim.url,
      status: 'active',
      key: 'sk-secret-123',
    });
    const model = await makeModel(t.db, { provider_id: provider.id });
    const f = await makeFeature(t.db);
    await c.changed(f.name, model, 'production'); // the smoke request goes to the simulator's URL with the key

    const res = await config(f.name, read, 'production').expect(200);
    expect(res.body.model).toMatchObject({ name: model.name, provider: name, provider_kind: 'openai-compatible', base_url: c.sim.url });
    expect(res.text).not.toContain('sk-secret-123');
    expect(res.text).not.toMatch(/ciphertext|api_key|-123"/);
    expect(JSON.stringify(res.headers)).not.toContain('sk-secret-123');
  });

  it.each([
    ['an unknown feature', () => `nope-${suffix()}`, 'staging', 404, 'Feature not found'],
    ['environment=qa', () => 'chatbot', 'qa', 400, 'environment must be one of development, staging, production'],
  ])('when asked for %s, then %i with the JSON error', async (_what, name, environment, status, error) => {
    const read = (await makeToken(t.db, 'read')).token;
    const res = await config(name(), read, environment).expect(status);
    expect(res.body).toMatchObject({ success: false, error });
  });

  it('when there is no token, then 401', async () => {
    const res = await config('chatbot', undefined).expect(401);
    expect(res.body).toEqual({ success: false, error: 'Authentication required' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });
});
