import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suffix } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, cardOrder, catalogueUrl, modelFacts, openCatalogue, PROVIDERS } from './setup.ts';

// The add-provider form of the Providers tab and the add-model form of the Models tab, as a browser
// without JavaScript posts them: 303 to the new row, or 422/409 with the form open, its errors inline.

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('add_forms');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/providers and /models (the add forms)', () => {
  it('when a provider is added, then 303 to its page with a flash; its card is on the Providers tab', async () => {
    const name = `added-${suffix()}`;
    const res = await c
      .postForm(PROVIDERS, {
        name,
        display_name: 'Added simulator',
        kind: 'simulator',
        base_url: '',
        api_key: '',
        status: 'active',
      })
      .expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${name}`);
    const $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toBe('Provider “Added simulator” added and active.');
    expect(await c.db('ai_providers').where({ name }).first('kind', 'status', 'base_url')).toEqual({
      kind: 'simulator',
      status: 'active',
      base_url: null,
    });
    expect((await c.page(CATALOGUE))(`li.provider-card[data-provider="${name}"]`)).toHaveLength(1);
    await c.db('ai_providers').where({ name }).update({ status: 'inactive' });
  });

  it('when the add-provider form is invalid, then 422 with the errors inline in the open form, the values kept, and nothing written', async () => {
    const before = await c.snapshot();
    const res = await c
      .postForm(PROVIDERS, {
        name: 'Not A Slug',
        display_name: '',
        kind: 'openai-compatible',
        base_url: 'http://169.254.169.254/',
        status: 'active',
      })
      .expect(422);
    const $ = load(res.text);
    expect($('#add-provider').attr('open')).toBeDefined();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Providers');
    expect(text($('#provider-name-error'))).toMatch(/^Slug must be lowercase letters/);
    expect(text($('#provider-display_name-error'))).toBe('Display name is required');
    expect(text($('#provider-base_url-error'))).toBe('Base URL must not point to a link-local or cloud metadata address');
    expect($('#provider-name').val()).toBe('Not A Slug');
    expect(await c.snapshot()).toEqual(before);
    // Active without a key: refused on status.
    const noKey = await c
      .postForm(PROVIDERS, {
        name: `nokey-${suffix()}`,
        display_name: 'No key',
        kind: 'openai-compatible',
        base_url: 'https://api.example.org/v1',
        status: 'active',
      })
      .expect(422);
    expect(text(load(noKey.text)('#provider-status-error'))).toBe('Status cannot be active without an API key');
    expect(await c.snapshot()).toEqual(before);
  });

  it('when the slug is taken, then 409 with the error on the slug and nothing written', async () => {
    const before = await c.snapshot();
    const res = await c.postForm(PROVIDERS, { name: 'acme', display_name: 'Acme again', kind: 'simulator' }).expect(409);
    const $ = load(res.text);
    expect(text($('#provider-name-error'))).toBe('Slug is already taken');
    expect($('#add-provider').attr('open')).toBeDefined();
    expect(await c.snapshot()).toEqual(before);
  });

  it('when a model is added, then 303 to its page with a flash, stored, and its card on the Models tab', async () => {
    const name = `new-model-${suffix()}`;
    const res = await c
      .postForm(CATALOGUE, {
        provider: 'cobalt',
        name,
        display_name: 'Cobalt Tiny',
        model_type: 'llm',
        status: 'beta',
        input_price_per_1k: '0.0004',
        output_price_per_1k: '0.0016',
        context_window: '32000',
      })
      .expect(303);
    const model = (await c.db('ai_models').where({ name }).first())!;
    expect(model).toMatchObject({
      provider_id: fx.cobalt.id,
      display_name: 'Cobalt Tiny',
      model_type: 'llm',
      status: 'beta',
      context_window: 32000,
    });
    expect(Number(model.input_price_per_1k)).toBe(0.0004);
    expect(res.headers.location).toBe(`${CATALOGUE}/${model.id}`);
    const $ = await c.page(catalogueUrl({ tab: 'models', q: name }));
    expect(text($('.flash-success'))).toBe('Model “Cobalt Tiny” added to Cobalt Labs.');
    expect(cardOrder($)).toEqual([name]);
    expect(modelFacts($, name)['Price / 1k']).toBe('$0.0004 in · $0.0016 out');
  });

  it('when the add-model form is invalid, then 422 inline on the Models tab with the values kept; a taken model id is 409; nothing is written', async () => {
    const before = await c.snapshot();
    const res = await c
      .postForm(CATALOGUE, {
        provider: 'cobalt',
        name: 'has spaces',
        display_name: '',
        model_type: 'llm',
        input_price_per_1k: '-1',
        output_price_per_1k: 'cheap',
      })
      .expect(422);
    const $ = load(res.text);
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Models');
    expect($('#add-model').attr('open')).toBeDefined();
    expect(text($('#model-name-error'))).toBe('Model id must be the provider’s model id, without spaces');
    expect(text($('#model-display_name-error'))).toBe('Display name is required');
    expect(text($('#model-input_price_per_1k-error'))).toBe('Input price must be 0 or more');
    expect(text($('#model-output_price_per_1k-error'))).toBe('Output price must be a price in USD per 1k tokens');
    expect($('#model-name').val()).toBe('has spaces');
    expect($('#model-provider option[selected]').val()).toBe('cobalt');
    const unknown = await c
      .postForm(CATALOGUE, {
        provider: 'nope',
        name: 'x',
        display_name: 'X',
        model_type: 'llm',
        input_price_per_1k: '0',
        output_price_per_1k: '0',
      })
      .expect(422);
    expect(text(load(unknown.text)('#model-provider-error'))).toBe('Provider is not a provider on record');
    const dup = await c
      .postForm(CATALOGUE, {
        provider: 'acme',
        name: 'zephyr-alpha-v2',
        display_name: 'Again',
        model_type: 'llm',
        input_price_per_1k: '0',
        output_price_per_1k: '0',
      })
      .expect(409);
    expect(text(load(dup.text)('#model-name-error'))).toBe('Model id is already taken for this provider');
    expect(await c.snapshot()).toEqual(before);
    // The same model id under another provider is fine.
    await c
      .postForm(CATALOGUE, {
        provider: 'bolt',
        name: 'zephyr-alpha-v2',
        display_name: 'Bolt Zephyr',
        model_type: 'llm',
        input_price_per_1k: '0',
        output_price_per_1k: '0',
      })
      .expect(303);
  });

  it('when the CSRF field is missing, then 403 and nothing is written', async () => {
    const before = await c.snapshot();
    await c.postForm(PROVIDERS, { name: `nocsrf-${suffix()}`, display_name: 'No CSRF', kind: 'simulator' }, c.admin, null).expect(403);
    await c
      .postForm(
        CATALOGUE,
        {
          provider: 'acme',
          name: `nocsrf-${suffix()}`,
          display_name: 'No CSRF',
          model_type: 'llm',
          input_price_per_1k: '0',
          output_price_per_1k: '0',
        },
        c.admin,
        null,
      )
      .expect(403);
    expect(await c.snapshot()).toEqual(before);
  });
});
