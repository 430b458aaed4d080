import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../../src/db/knex.ts';
import { decryptSecret } from '../../../src/providers/secrets.ts';
import { TEST_SECRETS_KEY } from '../../setup/app.ts';
import { apiKey, suffix } from '../../setup/factories.ts';
import { answerJson, closedPort, fakeProvider } from '../../setup/fake-provider.ts';
import { text } from '../../setup/html.ts';
import type { ProviderRecord } from '../../setup/rows.ts';
import { seedFixture } from './fixture.ts';
import { API, CATALOGUE, type Catalogue, catalogueUrl, openCatalogue, PROVIDERS, validProvider } from './setup.ts';

// A provider's API key, once given, is only ever shown as •••• and its last 4 characters: not in
// any answer, page, log, audit entry or table column, through the forms or through the API.

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('provider_keys');
  await seedFixture(c.db);
});
afterAll(() => c?.close());

/** Neither the key nor its hex (as a bytea column shows it) is in any row of any table, read as text. */
async function expectInNoTable(db: Db, key: string) {
  const hex = Buffer.from(key).toString('hex');
  const { rows: tables } = await db.raw(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  expect(tables.length).toBeGreaterThan(5);
  for (const { table_name } of tables as { table_name: string }[]) {
    const { rows } = await db.raw(
      `SELECT count(*)::int AS n FROM "${table_name}" r WHERE strpos(r::text, ?) > 0 OR strpos(r::text, ?) > 0`,
      [key, hex],
    );
    expect(rows[0].n, `${table_name} holds the key`).toBe(0);
  }
}

/**
 * A provider added with a key through the add form, its key replaced through the edit form, then
 * activated; an edit refused while carrying the first key again, and an add refused with a third.
 * The answers and pages on the way, and the keys.
 */
async function keysThroughTheForms() {
  const port = await closedPort();
  const [first, second, third] = [apiKey('q1w2'), apiKey('z9x8'), apiKey('t3t3')];
  const name = `keyed-${suffix()}`;
  const texts: string[] = [];
  const created = await c.postForm(PROVIDERS, {
    name,
    display_name: 'Keyed provider',
    kind: 'openai-compatible',
    base_url: `http://127.0.0.1:${port}/v1`,
    api_key: first,
    status: 'inactive',
  });
  expect(created.status, text(load(created.text)('.field-error'))).toBe(303);
  expect(created.headers.location).toBe(`${PROVIDERS}/${name}`);
  let $ = await c.page(created.headers.location);
  texts.push(created.text, $.html());
  expect(text($('.flash-success'))).toBe('Provider “Keyed provider” added (inactive until you activate it).');
  expect(text($('[data-key-hint]'))).toBe('••••q1w2');
  const edit = { display_name: 'Keyed provider', base_url: `http://127.0.0.1:${port}/v1` };
  const saved = await c.postForm(`${PROVIDERS}/${name}`, { ...edit, api_key: second }).expect(303);
  $ = await c.page(saved.headers.location);
  texts.push(saved.text, $.html());
  expect(text($('.flash-success'))).toBe('Saved Keyed provider. Key on file ends in z9x8.');
  expect(text($('[data-key-hint]'))).toBe('••••z9x8');
  expect(text($('label[for="edit-api_key"] .muted'))).toBe('(leave blank to keep the key ending in z9x8)');
  // Nothing listens on the port: activation goes ahead despite its failed connection test.
  await c.postForm(`${PROVIDERS}/${name}/status`, { status: 'active', despite_failed_test: 'yes' }).expect(303);
  const refused = await c.postForm(`${PROVIDERS}/${name}`, { ...edit, base_url: 'http://169.254.169.254/', api_key: first }).expect(422);
  const refusedAdd = await c
    .postForm(PROVIDERS, {
      name: `bad-${suffix()}`,
      display_name: 'Bad',
      kind: 'openai-compatible',
      base_url: 'http://169.254.169.254/',
      api_key: third,
    })
    .expect(422);
  texts.push(refused.text, refusedAdd.text);
  return { name, keys: [first, second, third], texts };
}

describe('provider keys through the forms', () => {
  it('when a key is saved through the forms, then no page (provider, catalogue tabs, audit, overview, refusals) holds it — only •••• and its last 4', async () => {
    const { name, keys, texts } = await keysThroughTheForms();
    for (const path of [
      `${PROVIDERS}/${name}`,
      CATALOGUE,
      catalogueUrl({ tab: 'models' }),
      catalogueUrl({ tab: 'deployments' }),
      '/platform/ai-management/audit',
      '/platform/ai-management/audit?entity=provider',
      '/platform/ai-management',
    ]) {
      texts.push((await c.page(path)).html());
      texts.push((await c.page(path, c.viewer)).html());
    }
    const audit = await c.page('/platform/ai-management/audit?entity=provider');
    expect(audit('#audit').text()).toContain('••••z9x8');
    expect(audit('#audit').text()).toContain('••••q1w2');
    for (const key of keys) {
      for (const body of texts) {
        expect(body).not.toContain(key);
        expect(body).not.toContain(key.slice(0, -4));
      }
    }
    const row: ProviderRecord = (await c.db('ai_providers').where({ name }).first())!;
    expect(row.api_key_last4).toBe('z9x8');
    expect(row.status).toBe('active');
    await c.db('ai_providers').where({ name }).update({ status: 'inactive' });
  });
});

describe('provider keys through the API', () => {
  it('when a key is set and replaced through the API, then no response (POST, PATCH, GET list, test), page, log, audit row or database column holds it, and the stored ciphertext opens to it', async () => {
    const server = await fakeProvider(answerJson({ object: 'list', data: [] }));
    try {
      const [first, second] = [apiKey('k1k1'), apiKey('k2k2')];
      const texts: string[] = [];
      const created = await c.api('post', '/providers', validProvider({ api_key: first, base_url: server.url }));
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id: string = created.body.data.id;
      texts.push(created.text);
      texts.push((await c.api('patch', `/providers/${id}`, { display_name: 'Keyed provider' }).expect(200)).text);
      // "Test connection" sends the key to the provider it belongs to, and to nobody else.
      const tested = await c.api('post', `/providers/${id}/test`, {}).expect(200);
      texts.push(tested.text);
      expect(tested.body.data.ok).toBe(true);
      expect(server.hits).toEqual([{ method: 'GET', url: '/v1/models', auth: `Bearer ${first}` }]);
      const replaced = await c.admin.agent.patch(`${API}/providers/${id}`).set('x-csrf-token', c.admin.csrf).send({ api_key: second });
      expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
      expect(replaced.body.data.api_key_hint).toBe('••••k2k2');
      texts.push(replaced.text);
      // A refused change that carried a key does not echo it either.
      const refused = await c.api('patch', `/providers/${id}`, { base_url: 'http://169.254.169.254/', api_key: first });
      expect(refused.status).toBe(422);
      texts.push(refused.text);
      const list = await c.api('get', '/providers').expect(200);
      expect(list.body.data.find((p: { id: string }) => p.id === id)).toMatchObject({ api_key_hint: '••••k2k2' });
      texts.push(list.text, (await c.api('get', '/providers?include_metrics=true').expect(200)).text);
      texts.push((await c.api('get', '/models').expect(200)).text);
      texts.push((await c.admin.agent.get('/platform/ai-management/models?tab=providers').expect(200)).text);

      const row: ProviderRecord = (await c.db('ai_providers').where({ id }).first())!;
      const sealed = row.api_key_ciphertext!;
      expect(row.api_key_last4).toBe('k2k2');
      expect(decryptSecret(TEST_SECRETS_KEY, sealed, row.id)).toBe(second);
      for (const key of [first, second]) {
        for (const answer of texts) expect(answer).not.toContain(key);
        expect(sealed.includes(Buffer.from(key))).toBe(false);
        expect(c.t.logs()).not.toContain(key);
        expect(JSON.stringify(await c.auditFor('provider', id))).not.toContain(key);
        await expectInNoTable(c.db, key);
      }
      expect(c.t.logs()).not.toContain(sealed.toString('base64'));
      expect(c.t.logs()).not.toContain(sealed.toString('hex'));
    } finally {
      await server.close();
    }
  });
});
