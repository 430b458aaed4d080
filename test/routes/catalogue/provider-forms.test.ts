import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKey, makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import { answerJson, closedPort, fakeProvider, MODEL_LIST } from '../../setup/fake-provider.ts';
import { errorMessage, text } from '../../setup/html.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, openCatalogue, PROVIDERS } from './setup.ts';

// A provider's forms on its page, as a browser without JavaScript posts them: edit, activate and
// deactivate, Test connection; each refusal re-shows the page with the error inline and writes nothing.

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('provider_forms');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/providers/:slug[/status|/test] (forms without JavaScript)', () => {
  it('when the display name is edited, then 303 to the provider page with a flash, stored and audited', async () => {
    const p = await makeProvider(c.db);
    const res = await c
      .postForm(`${PROVIDERS}/${p.name}`, { display_name: 'Renamed provider', base_url: p.base_url, api_key: '' })
      .expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${p.name}`);
    const $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toBe('Saved Renamed provider.');
    expect(text($('h1'))).toContain('Renamed provider');
    expect((await c.db('ai_providers').where({ id: p.id }).first())?.display_name).toBe('Renamed provider');
    expect(await c.db('audit_log').where({ entity_id: p.id }).pluck('action')).toEqual(['provider.updated']);
    expect((await c.page(res.headers.location))('.flash')).toHaveLength(0); // shown once
  });

  it('when an active keyed provider is deactivated and activated again, then 303 with a flash each time and the status stored', async () => {
    const answering = await fakeProvider(answerJson(MODEL_LIST)); // activation tests the connection first
    const p = await makeProvider(c.db, { status: 'active', key: apiKey(), base_url: answering.url });
    let res = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${p.name}`);
    let $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${p.display_name} is now inactive.`);
    expect(text($(`form[action$="/status"] button`))).toBe('Activate');
    expect((await c.db('ai_providers').where({ id: p.id }).first())?.status).toBe('inactive');
    res = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active' }).expect(303);
    $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toMatch(new RegExp(`^${p.display_name} is now active\\. Connection test passed in \\d+ ms\\.$`));
    await answering.close();
    expect((await c.db('ai_providers').where({ id: p.id }).first())?.status).toBe('active');
    expect(await c.db('audit_log').where({ entity_id: p.id }).orderBy('id').pluck('action')).toEqual([
      'provider.deactivated',
      'provider.activated',
    ]);
  });

  it('when an inactive provider without a key is activated, then 422 inline on the page and nothing is written', async () => {
    const before = await c.snapshot();
    const res = await c.postForm(`${PROVIDERS}/bolt/status`, { status: 'active' }).expect(422);
    const $ = load(res.text);
    // Said at the top, next to the button that was pressed.
    expect(text($('#status-error[role="alert"]'))).toBe('Status cannot be active without an API key');
    expect(text($('h1'))).toContain('Bolt Inference');
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a provider whose models serve a feature is deactivated, or given a new base URL, then a warning names the feature and asks to confirm; confirmed, it is done', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey('c0nf') });
    const m = await makeModel(c.db, { provider_id: p.id });
    const feature = await makeFeature(c.db, { display_name: `Served ${suffix()}` });
    await makeAssignment(c.db, { feature_id: feature.id, model_id: m.id, environment: 'production' });
    const before = await c.snapshot();
    const refused = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(409);
    const $ = load(refused.text);
    expect(text($('#status-warning p'))).toContain(`${feature.display_name} (production)`);
    const confirmForm = $('#status-warning form');
    expect(confirmForm.attr('action')).toBe(`${PROVIDERS}/${p.name}/status`);
    expect(confirmForm.find('input[name="confirm"]').val()).toBe('yes');
    const edit = await c
      .postForm(`${PROVIDERS}/${p.name}`, {
        display_name: p.display_name,
        base_url: 'https://elsewhere.example/v1',
        api_key: apiKey('n3w1'),
      })
      .expect(409);
    const $edit = load(edit.text);
    expect(text($edit('#edit-warning'))).toContain(`${feature.display_name} (production)`);
    expect($edit('#edit-provider input[name="confirm"][type="checkbox"]')).toHaveLength(1);
    expect($edit('#edit-provider input[name="api_key"]').val()).toBe('');
    expect(await c.snapshot()).toEqual(before);
    await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive', confirm: 'yes' }).expect(303);
    expect((await c.db('ai_providers').where({ id: p.id }).first())?.status).toBe('inactive');
  });

  it('when the key of an active provider is removed through the form, then 422 on the key field and the key stays; deactivated first, the key can be removed', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey('r3m0') });
    const before = await c.snapshot();
    const res = await c
      .postForm(`${PROVIDERS}/${p.name}`, {
        display_name: p.display_name,
        base_url: p.base_url,
        api_key: '',
        remove_key: 'on',
      })
      .expect(422);
    // Reported on the key (what this change touches), with what to do.
    expect(text(load(res.text)('#edit-provider .field-error'))).toBe(
      'API key cannot be removed while the provider is active: deactivate it first',
    );
    expect(await c.snapshot()).toEqual(before);
    await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(303);
    const ok = await c
      .postForm(`${PROVIDERS}/${p.name}`, {
        display_name: p.display_name,
        base_url: p.base_url,
        api_key: '',
        remove_key: 'on',
      })
      .expect(303);
    const $ = await c.page(ok.headers.location);
    expect(text($('.flash-success'))).toBe(`Saved ${p.display_name}.`);
    expect(text($('[data-key-hint]'))).toBe('none');
    expect(await c.db('ai_providers').where({ id: p.id }).first('api_key_last4', 'api_key_ciphertext')).toEqual({
      api_key_last4: null,
      api_key_ciphertext: null,
    });
  });

  it.each([
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data', 'must not point to a link-local or cloud metadata address'],
    ['a link-local address', 'http://169.254.10.20/v1', 'must not point to a link-local or cloud metadata address'],
    ['an IPv6 link-local address', 'http://[fe80::1]/v1', 'must not point to a link-local or cloud metadata address'],
    [
      'the metadata host name',
      'http://metadata.google.internal/computeMetadata/v1',
      'must not point to a link-local or cloud metadata address',
    ],
    ['an ftp URL', 'ftp://files.example.com/v1', 'must start with http:// or https://'],
    ['a javascript: URL', 'javascript:alert(1)', 'must start with http:// or https://'],
  ])(
    'when the base URL is %s (with a new key), then 422 inline on base_url, the key not echoed, and nothing is written',
    async (_what, baseUrl, message) => {
      const p = await makeProvider(c.db, { key: apiKey() });
      const key = apiKey();
      const before = await c.snapshot();
      const res = await c.postForm(`${PROVIDERS}/${p.name}`, { display_name: p.display_name, base_url: baseUrl, api_key: key }).expect(422);
      const $ = load(res.text);
      expect(text($('#edit-base_url-error'))).toBe(`Base URL ${message}`);
      expect($('#edit-base_url').attr('aria-invalid')).toBe('true');
      expect($('#edit-base_url').val()).toBe(baseUrl);
      expect($('#edit-api_key').val()).toBe('');
      expect(res.text).not.toContain(key);
      expect(res.text).not.toContain(key.slice(0, -4));
      expect(await c.snapshot()).toEqual(before);
    },
  );

  it('when a keyed provider gets a new base URL without the key again, then 422 on the key field and nothing is written; with the key it is saved', async () => {
    const oldKey = apiKey();
    const p = await makeProvider(c.db, { key: oldKey });
    const before = await c.snapshot();
    const res = await c
      .postForm(`${PROVIDERS}/${p.name}`, {
        display_name: p.display_name,
        base_url: 'https://api.other.example/v1',
        api_key: '',
      })
      .expect(422);
    expect(text(load(res.text)('#edit-api_key-error'))).toBe('API key is required again when the base URL changes');
    expect(await c.snapshot()).toEqual(before);
    const key = apiKey('n3w4');
    const ok = await c
      .postForm(`${PROVIDERS}/${p.name}`, {
        display_name: p.display_name,
        base_url: 'https://api.other.example/v1',
        api_key: key,
      })
      .expect(303);
    const $ = await c.page(ok.headers.location);
    expect(text($('.flash-success'))).toBe(`Saved ${p.display_name}. Key on file ends in n3w4.`);
    expect(await c.db('ai_providers').where({ id: p.id }).first('base_url', 'api_key_last4')).toEqual({
      base_url: 'https://api.other.example/v1',
      api_key_last4: 'n3w4',
    });
  });

  it('when Test connection is pressed, then the probe goes through the adapter: 303 with the result as a flash, stored, and listed first among the checks', async () => {
    let res = await c.postForm(`${PROVIDERS}/simulator/test`, {}).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/simulator`);
    let $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toMatch(/^Connection to Simulator works: GET \/models answered in \d+ ms\.$/);
    const last = await c.db('health_checks').where({ provider_id: c.simulatorId }).orderBy('id', 'desc').first();
    expect(last).toMatchObject({ kind: 'manual', status: 'ok', error: null });
    expect(
      $('#checks tbody tr')
        .first()
        .children()
        .toArray()
        .map((c) => text($(c)))
        .slice(1, 3),
    ).toEqual(['connection test', 'ok']);

    const down = await makeProvider(c.db, { base_url: `http://127.0.0.1:${await closedPort()}/v1` });
    res = await c.postForm(`${PROVIDERS}/${down.name}/test`, {}).expect(303);
    $ = await c.page(res.headers.location);
    const flash = text($('.flash-error'));
    expect(flash).toMatch(new RegExp(`^Connection to ${down.display_name} failed: .+\\.$`));
    const stored = await c.db('health_checks').where({ provider_id: down.id });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ kind: 'manual', status: 'error' });
    expect(flash).toContain(stored[0].error);
    expect(
      $('#checks tbody tr')
        .first()
        .children()
        .toArray()
        .map((c) => text($(c)))
        .slice(1, 3),
    ).toEqual(['connection test', 'error']);
  });

  it('when the CSRF field is missing, then 403 and nothing is written (edit, status, test)', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey() });
    const before = await c.snapshot();
    await c.postForm(`${PROVIDERS}/${p.name}`, { display_name: 'No token' }, c.admin, null).expect(403);
    await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }, c.admin, null).expect(403);
    await c.postForm(`${PROVIDERS}/${p.name}/test`, {}, c.admin, null).expect(403);
    await c.postForm(`${PROVIDERS}/${p.name}`, { display_name: 'Wrong token' }, c.admin, 'not-the-token').expect(403);
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a viewer posts (with a valid CSRF token), then 403 "Only admins can make changes" and nothing is written', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey() });
    const before = await c.snapshot();
    for (const [path, body] of [
      [`${PROVIDERS}/${p.name}`, { display_name: 'Viewer was here' }],
      [`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }],
      [`${PROVIDERS}/${p.name}/test`, {}],
      [PROVIDERS, { name: `v-${suffix()}`, display_name: 'Viewer provider', kind: 'simulator' }],
      [
        CATALOGUE,
        {
          provider: 'simulator',
          name: `v-${suffix()}`,
          display_name: 'Viewer model',
          model_type: 'llm',
          input_price_per_1k: '0',
          output_price_per_1k: '0',
        },
      ],
      [`${CATALOGUE}/${fx.models.beta.id}/edit`, { display_name: 'Viewer model' }],
      [`${CATALOGUE}/${fx.models.beta.id}/deploy`, { feature: fx.feature.name, environment: 'staging' }],
    ] as const) {
      const res = await c.postForm(path, body, c.viewer);
      expect(res.status, path).toBe(403);
      expect(errorMessage(res.text)).toBe('Only admins can make changes');
    }
    expect(await c.snapshot()).toEqual(before);
    await c.viewer.agent.get(`${CATALOGUE}/${fx.models.beta.id}/edit`).expect(403);
    await c.viewer.agent.get(`${CATALOGUE}/${fx.models.beta.id}/deploy`).expect(403);
  });
});
