import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret } from '../../../src/providers/secrets.ts';
import { TEST_SECRETS_KEY, type TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import { API, type Deployments, openDeployments, passed } from './setup.ts';

// Provider credentials in the pipeline: a sealed key is used for the smoke request and shown nowhere;
// a key that does not open (another SECRETS_KEY, another provider's row) fails the provider check.

let d: Deployments;
let t: TestContext;
beforeAll(async () => {
  d = await openDeployments();
  ({ t } = d);
});
afterAll(() => d?.close());

describe('provider credentials', () => {
  it('when a provider has an encrypted key, then deploying through it succeeds and the key shows nowhere: response, deployment row, logs', async () => {
    const sim = await d.simulator();
    const secret = `sk-test-${suffix()}${suffix()}${suffix()}`;
    const id = randomUUID();
    const sealed = encryptSecret(TEST_SECRETS_KEY, secret, id);
    const provider = await makeProvider(t.db, {
      status: 'active',
      id,
      base_url: sim.url,
      api_key_ciphertext: sealed,
      api_key_last4: secret.slice(-4),
    });
    const model = await makeModel(t.db, { provider_id: provider.id });
    const feature = await makeFeature(t.db);
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(201);
    expect(res.body.data.deployment.checks).toEqual(passed());
    expect(res.text).not.toContain(secret);
    expect(res.text).not.toContain(sealed.toString('base64'));
    const row = await t.db('deployments').where({ id: res.body.data.deployment.id }).first();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(await d.healthOf(model.id))).not.toContain(secret);
    expect(JSON.stringify(await d.auditOf(feature.id))).not.toContain(secret);
    const list = await request(t.app).get(`${API}/deployments?limit=200`).set('Authorization', `Bearer ${d.readToken}`).expect(200);
    expect(list.text).not.toContain(secret);
    expect(t.logs()).not.toContain(secret);
    expect(t.logs()).not.toContain(sealed.toString('base64'));
  });

  it('when a key is sealed, then it opens with the same key and owner only, and an altered ciphertext throws', () => {
    const key = TEST_SECRETS_KEY;
    const secret = `sk-${suffix()}-ünïcode`;
    const owner = randomUUID();
    const sealed = encryptSecret(key, secret, owner);
    expect(decryptSecret(key, sealed, owner)).toBe(secret);
    expect(sealed.includes(Buffer.from(secret))).toBe(false);
    expect(encryptSecret(key, secret, owner).equals(sealed)).toBe(false); // a fresh IV each time
    for (const at of [0, 12, 28, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[at] ^= 1;
      expect(() => decryptSecret(key, tampered, owner)).toThrow();
    }
    expect(() => decryptSecret(Buffer.alloc(32, 8), sealed, owner)).toThrow();
    expect(() => decryptSecret(key, sealed.subarray(0, 20), owner)).toThrow();
    expect(() => decryptSecret(key, sealed, randomUUID())).toThrow(); // copied to another provider row
  });

  it('when a sealed key is copied to another provider row, then it does not open there and nothing is sent with it', async () => {
    const sim = await d.simulator();
    const owner = await makeProvider(t.db, { base_url: sim.url, status: 'inactive' });
    const sealed = encryptSecret(TEST_SECRETS_KEY, `sk-${suffix()}${suffix()}`, owner.id);
    const thief = await makeProvider(t.db, { status: 'active', base_url: sim.url, api_key_ciphertext: sealed, api_key_last4: 'abcd' });
    const model = await makeModel(t.db, { provider_id: thief.id });
    const feature = await makeFeature(t.db);
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/API key that cannot be read/);
  });
});

describe('provider credentials that no longer decrypt', () => {
  it('when the stored key was sealed under another SECRETS_KEY, then the provider check fails (422) and the deployment is finished, not left in progress', async () => {
    const sim = await d.simulator();
    const id = randomUUID();
    const provider = await makeProvider(t.db, {
      status: 'active',
      id,
      base_url: sim.url,
      api_key_ciphertext: encryptSecret(Buffer.alloc(32, 9), 'sk-x', id),
      api_key_last4: '-key',
    });
    const model = await makeModel(t.db, { provider_id: provider.id });
    const feature = await makeFeature(t.db);
    const res = await d.deployTo(feature.id, { model_id: model.id, environment: 'staging' }).expect(422);
    expect(res.body.error).toMatch(/API key that cannot be read/);
    const row = (await t.db('deployments').where({ id: res.body.details.deployment.id }).first())!;
    expect(row).toMatchObject({ status: 'failed' });
    expect(row.finished_at).not.toBeNull();
    expect(row.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['model', true],
      ['provider', false],
    ]);
  });
});
