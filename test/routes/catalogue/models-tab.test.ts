import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { errorMessage, fragment, text } from '../../setup/html.ts';
import type { ModelRecord } from '../../setup/rows.ts';
import { type Brute, brute, performance } from './figures.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, cardOrder, catalogueUrl, modelFacts, openCatalogue } from './setup.ts';

// The Models tab of /platform/ai-management/models: a card per model with its 24 h figures (checked
// against a brute-force computation over the raw rows, SPEC §4), search, filters and sorts, as plain
// URLs and as htmx fragments.

const fmt = createFormat('UTC');

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('models_tab');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

describe('GET /platform/ai-management/models?tab=models', () => {
  it('when shown, then each card has provider, status, type, where it serves, success, latency, requests, total cost and price from the raw rows', async () => {
    const $ = await c.page(catalogueUrl({ tab: 'models' }));
    const now = Date.now();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Models');
    const all: ModelRecord[] = await c.db('ai_models').select('*');
    expect($('#model-cards li.model-card')).toHaveLength(all.length);
    expect(text($('#model-count[role="status"]'))).toBe(
      `${all.length} of ${all.length} models · figures over the last 24 hours, all features`,
    );
    for (const m of Object.values(fx.models)) {
      const b = await brute(c.db, 'model_id', m.id, now);
      expect(modelFacts($, m.name), m.name).toEqual({
        Type: m.model_type,
        Success: fmt.percent(b.successRate),
        Latency: fmt.ms(b.meanMs),
        Requests: fmt.integer(b.requests),
        'Total cost': fmt.usd(b.cost24h),
        'Price / 1k': `${fmt.price(Number(m.input_price_per_1k))} in · ${fmt.price(Number(m.output_price_per_1k))} out`,
      });
      const card = $(`li.model-card[data-model="${m.name}"]`);
      expect(text(card.find('.feature-card-title .muted'))).toBe(`${m.provider_id === fx.acme.id ? 'Acme AI' : 'Cobalt Labs'} · ${m.name}`);
      expect(text(card.find('.badge'))).toBe(m.status);
      expect(card.find('input[type="checkbox"][name="ids"]').val()).toBe(m.id);
      expect(
        card
          .find('a.button')
          .toArray()
          .map((a) => [text($(a)), $(a).attr('href')]),
      ).toEqual([
        ['Configure', `${CATALOGUE}/${m.id}/edit`],
        ['Deploy', `${CATALOGUE}/${m.id}/deploy`],
      ]);
    }
    // Spot values, so a wrong brute force cannot agree with a wrong page.
    expect(modelFacts($, 'acme/ql-7b')).toMatchObject({ Success: '75.0%', Latency: '100 ms', Requests: '8', 'Total cost': '$0.16' });
    expect(modelFacts($, 'zephyr-alpha-v2')).toMatchObject({ Success: '100.0%', Latency: '300 ms', Requests: '6', 'Total cost': '$0.60' });
    expect(modelFacts($, 'orca-vision')).toMatchObject({ Success: 'no data', Latency: 'no data', Requests: '0' });
    expect(text($('li.model-card[data-model="zephyr-alpha-v2"] p.deployed'))).toBe(`Serves ${fx.feature.display_name} (production)`);
    expect($('li.model-card[data-model="zephyr-alpha-v2"] p.deployed a').attr('href')).toBe(
      `/platform/ai-management/features?feature=${fx.feature.name}&tab=models&environment=production`,
    );
    expect(text($('li.model-card[data-model="zephyr-beta-v1"] p.deployed'))).toBe('Not deployed');
    expect($('#add-model form[action="/platform/ai-management/models"]')).toHaveLength(1);
  });

  it.each([
    ['the display name, any case', 'zEPHYR', ['zephyr-alpha-v2', 'zephyr-beta-v1']],
    ['the model id, any case', 'ALPHA-V2', ['zephyr-alpha-v2']],
    ['a part of the model id only', 'QL-7B', ['acme/ql-7b']],
    ['surrounding spaces', '  quill  ', ['acme/ql-7b']],
  ])('when searched by %s, then only the matching models are shown and the search box keeps the text', async (_what, q, expected) => {
    const $ = await c.page(catalogueUrl({ tab: 'models', q }));
    expect(cardOrder($).sort()).toEqual(expected);
    expect($('form.filters input[name="q"]').val()).toBe(q.trim());
    expect(text($('#model-count[role="status"]'))).toContain(`matching “${q.trim()}”`);
  });

  it('when filtered by provider, by status and by both with a search, then exactly the matching models, whatever the order of the checks', async () => {
    const all: { name: string; status: string; display_name: string; provider: string }[] = await c
      .db('ai_models as m')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .select('m.name', 'm.status', 'm.display_name', 'p.name as provider');
    const names = (rows: { name: string }[]) => rows.map((r) => r.name).sort();
    let $ = await c.page(catalogueUrl({ tab: 'models', provider: 'acme' }));
    expect(cardOrder($).sort()).toEqual(names(all.filter((r) => r.provider === 'acme')));
    expect(cardOrder($)).toHaveLength(5);
    expect($('form.filters select[name="provider"] option[selected]').val()).toBe('acme');
    $ = await c.page(catalogueUrl({ tab: 'models', status: 'beta' }));
    expect(cardOrder($).sort()).toEqual(names(all.filter((r) => r.status === 'beta')));
    expect(cardOrder($).length).toBeGreaterThan(1);
    $ = await c.page(catalogueUrl({ tab: 'models', provider: 'acme', status: 'beta' }));
    expect(cardOrder($)).toEqual(['acme/ql-7b']);
    $ = await c.page(catalogueUrl({ tab: 'models', provider: 'acme', status: 'available', q: 'zephyr', sort: 'usage' }));
    expect(cardOrder($)).toEqual(['zephyr-alpha-v2', 'zephyr-beta-v1']);
    expect($('form.filters select[name="sort"] option[selected]').val()).toBe('usage');
    expect($('form.filters select[name="status"] option[selected]').val()).toBe('available');
    // Blank fields (what the form sends) mean "any".
    $ = await c.page(`${CATALOGUE}?tab=models&q=&provider=&status=&sort=`);
    expect(cardOrder($)).toHaveLength(all.length);
  });

  it('when sorted by name, performance, cost and usage, then the order follows SPEC from the seeded usage (no-data last for performance)', async () => {
    const now = Date.now();
    const acmeModels: ModelRecord[] = await c.db('ai_models').where({ provider_id: fx.acme.id }).select('*');
    const figures = new Map<string, Brute>();
    for (const m of acmeModels) figures.set(m.name, await brute(c.db, 'model_id', m.id, now));
    const order = async (sort: string) => cardOrder(await c.page(catalogueUrl({ tab: 'models', provider: 'acme', sort })));

    expect(await order('name')).toEqual(['nimbus-embed', 'orca-vision', 'acme/ql-7b', 'zephyr-alpha-v2', 'zephyr-beta-v1']);
    expect(await order('name')).toEqual([...acmeModels].sort((a, b) => a.display_name.localeCompare(b.display_name)).map((m) => m.name));
    // Performance: the performance score (SPEC §4) desc, then latency asc; models without traffic last.
    const perf = await order('performance');
    const byScore = (a: string, b: string, of: Map<string, Brute>) =>
      performance(of.get(b)!) - performance(of.get(a)!) || of.get(a)!.meanMs! - of.get(b)!.meanMs!;
    const withData = acmeModels
      .filter((m) => figures.get(m.name)!.requests > 0)
      .map((m) => m.name)
      .sort((a, b) => byScore(a, b, figures));
    expect(withData).toEqual(['zephyr-alpha-v2', 'acme/ql-7b', 'zephyr-beta-v1']); // the score weighs speed and uptime, not success alone
    expect(perf.slice(0, 3)).toEqual(withData);
    expect(perf.slice(3).sort()).toEqual(['nimbus-embed', 'orca-vision']);
    // Cost: list price per 1k tokens (input + output) ascending, then cost per request.
    const cost = await order('cost');
    const price = (name: string) => {
      const m = acmeModels.find((x) => x.name === name)!;
      return Number(m.input_price_per_1k) + Number(m.output_price_per_1k);
    };
    const prices = cost.map((n) => price(n!));
    expect(prices).toEqual([...prices].sort((a, b) => a - b));
    expect(new Set(prices).size).toBeGreaterThan(2);
    // Usage: requests descending.
    const usage = await order('usage');
    expect(usage.slice(0, 3)).toEqual(['acme/ql-7b', 'zephyr-alpha-v2', 'zephyr-beta-v1']);
    expect(usage.map((n) => figures.get(n!)!.requests)).toEqual([8, 6, 3, 0, 0]);
    // Over the whole catalogue too: every model with traffic before any without, best first.
    const whole = cardOrder(await c.page(catalogueUrl({ tab: 'models', sort: 'performance' })));
    const everything: Pick<ModelRecord, 'id' | 'name'>[] = await c.db('ai_models').select('id', 'name');
    const all = new Map<string, Brute>();
    for (const m of everything) all.set(m.name, await brute(c.db, 'model_id', m.id, now));
    const ranked = everything
      .filter((m) => all.get(m.name)!.requests > 0)
      .map((m) => m.name)
      .sort((a, b) => byScore(a, b, all));
    expect(ranked.length).toBeGreaterThanOrEqual(4);
    expect(whole.slice(0, ranked.length)).toEqual(ranked);
  });

  it.each([
    ['sort=popular', { tab: 'models', sort: 'popular' }, 'sort must be one of name, performance, cost, usage'],
    ['status=retired', { tab: 'models', status: 'retired' }, 'status must be one of available, beta, deprecated, offline'],
    ['tab=pricing', { tab: 'pricing' }, 'tab must be one of providers, models, deployments'],
    ['a search of 101 characters', { tab: 'models', q: 'x'.repeat(101) }, 'q must be at most 100 characters'],
    ['page=0', { tab: 'deployments', page: '0' }, 'page must be 1 or more'],
    ['environment=qa', { tab: 'deployments', environment: 'qa' }, 'environment must be one of development, staging, production'],
    [
      'a deployment status on the deployments tab that is a model status',
      { tab: 'deployments', status: 'beta' },
      'status must be one of in_progress, success, failed, rolled_back',
    ],
  ])('when asked for %s, then 400 with a message naming the allowed values', async (_what, params, message) => {
    const res = await c.admin.agent.get(catalogueUrl(params as Record<string, string>)).expect(400);
    expect(errorMessage(res.text)).toBe(message);
  });

  it('when nothing matches, then the empty message with a link back to all models', async () => {
    const $ = await c.page(catalogueUrl({ tab: 'models', q: 'no-such-model-anywhere' }));
    expect($('#model-cards')).toHaveLength(0);
    expect(text($('#model-results p.empty'))).toBe('No model matches these filters. Show all models');
    expect($('#model-results p.empty a').attr('href')).toBe(`${CATALOGUE}?tab=models`);
    const total = Number((await c.db('ai_models').count({ n: '*' }).first())!.n);
    expect(text($('#model-count[role="status"]'))).toBe(
      `0 of ${total} models matching “no-such-model-anywhere” · figures over the last 24 hours, all features`,
    );
  });

  it('when htmx asks for #model-results (search, filter, sort), then only that fragment comes back, the same cards as the plain URL, varying by HX-Request and HX-Target', async () => {
    const cases: Record<string, string>[] = [
      { tab: 'models', q: 'zephyr' },
      { tab: 'models', provider: 'acme', sort: 'performance' },
      { tab: 'models', status: 'beta', sort: 'usage' },
      { tab: 'models', q: 'nothing-at-all' },
    ];
    for (const params of cases) {
      const plain = await c.page(catalogueUrl(params));
      for (const target of ['div#model-results', 'model-results']) {
        const res = await c.admin.agent.get(catalogueUrl(params)).set({ 'HX-Request': 'true', 'HX-Target': target }).expect(200);
        expect(res.headers.vary).toMatch(/HX-Request/);
        expect(res.headers.vary).toMatch(/HX-Target/);
        const $ = fragment(res.text, 'model-results', ['model-count']);
        expect(cardOrder($)).toEqual(cardOrder(plain));
        expect(text($('#model-count[role="status"]'))).toBe(text(plain('#model-count[role="status"]')));
        // The filter form is not part of the fragment: what the user types is not replaced.
        expect($('input[name="q"]')).toHaveLength(0);
      }
    }
  });

  it('when the form is shown, then it is a plain GET form (works without JavaScript) that htmx sends live to #model-results and pushes into the URL', async () => {
    const $ = await c.page(catalogueUrl({ tab: 'models' }));
    const form = $('form.filters');
    expect([form.attr('method'), form.attr('action'), form.attr('hx-get'), form.attr('hx-target'), form.attr('hx-push-url')]).toEqual([
      'get',
      CATALOGUE,
      CATALOGUE,
      '#model-results',
      'true',
    ]);
    expect(form.attr('hx-trigger')).toContain('input');
    expect(form.find('input[type="hidden"][name="tab"]').val()).toBe('models');
    expect(form.find('noscript').html()).toContain('Apply');
    expect(
      form
        .find('select[name="sort"] option')
        .toArray()
        .map((o) => $(o).val()),
    ).toEqual(['name', 'performance', 'cost', 'usage']);
    expect(
      form
        .find('select[name="provider"] option')
        .toArray()
        .map((o) => $(o).val()),
    ).toEqual(['', ...(await c.db('ai_providers').orderBy('display_name').pluck('name'))]);
  });

  it('when htmx switches tabs (HX-Target #catalogue-tab), then only the tab section comes back', async () => {
    for (const tab of ['providers', 'models', 'deployments']) {
      const res = await c.admin.agent
        .get(catalogueUrl({ tab }))
        .set({ 'HX-Request': 'true', 'HX-Target': 'section#catalogue-tab' })
        .expect(200);
      expect(res.headers.vary).toMatch(/HX-Request/);
      const $ = fragment(res.text, 'catalogue-tab');
      expect(text($('nav.tabs a[aria-current="page"]'))).toBe(tab[0].toUpperCase() + tab.slice(1));
      expect(
        $('nav.tabs a')
          .toArray()
          .map((a) => $(a).attr('hx-target')),
      ).toEqual(['#catalogue-tab', '#catalogue-tab', '#catalogue-tab']);
    }
    const plain = await c.admin.agent.get(catalogueUrl({ tab: 'models' })).expect(200);
    expect(plain.text).toMatch(/<html/);
    // A bad value asked by htmx: the error goes to the page's error area, not in place of the cards.
    const bad = await c.admin.agent
      .get(catalogueUrl({ tab: 'models', sort: 'popular' }))
      .set({ 'HX-Request': 'true', 'HX-Target': 'div#model-results' })
      .expect(400);
    expect(bad.headers['hx-retarget']).toBe('#errors');
    expect(bad.text).not.toMatch(/<html/);
    expect(errorMessage(bad.text)).toBe('sort must be one of name, performance, cost, usage');
  });
});
