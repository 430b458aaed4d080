import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature } from '../../setup/factories.ts';
import { fragment, hx, tableRows, text } from '../../setup/html.ts';
import type { ModelRef } from '../../setup/usage-factory.ts';
import { type Features, featuresUrl, openFeatures, seededFeature } from './setup.ts';

// The features page as htmx asks for it: one URL, the fragment chosen by HX-Target; polled fragments
// keep polling; links carry the whole state; the other tabs.

let c: Features;
let t: TestContext;
let mini: ModelRef;
let sonnet: ModelRef;
beforeAll(async () => {
  c = await openFeatures();
  ({ t, mini, sonnet } = c);
});
afterAll(() => c?.close());

describe('GET /platform/ai-management/features, htmx fragments', () => {
  it.each([
    ['div#feature-workspace', 'feature-workspace'],
    ['section#feature-cards', 'feature-cards'],
    ['section#feature-panel', 'feature-panel'],
    ['div#feature-overview', 'feature-overview'],
    [undefined, 'feature-workspace'],
  ])('when htmx targets %s, then the answer is the #%s fragment, varying by HX-Request and HX-Target', async (target, id) => {
    const f = await makeFeature(t.db);
    const res = await c.admin.agent
      .get(featuresUrl({ feature: f.name }))
      .set(hx(target))
      .expect(200)
      .expect('vary', /HX-Request.*HX-Target/);
    fragment(res.text, id);
  });

  it('when htmx asks for the overview fragment of another tab, then 400 as an error fragment, not a broken overview', async () => {
    const f = await makeFeature(t.db);
    const res = await c.admin.agent
      .get(featuresUrl({ feature: f.name, tab: 'models' }))
      .set(hx('div#feature-overview'))
      .expect(400);
    expect(text(fragment(res.text, 'error')('p').first())).toBe('The overview fragment needs tab=overview');
  });

  it('when a polled fragment is fetched, then it keeps its hx-get, every-30s trigger (the overview also its live check) and outerHTML swap so polling goes on', async () => {
    const { f } = await seededFeature(c);
    const state = featuresUrl({ feature: f.name, tab: 'overview', range: '7d' });
    // Both poll the page's whole state (the cards keep it for their links); the overview also when the live check says so.
    for (const [target, id, polled, trigger] of [
      ['section#feature-cards', 'feature-cards', state, 'every 30s'],
      ['div#feature-overview', 'feature-overview', state, 'every 30s, live-changed'],
    ]) {
      const $ = fragment((await c.admin.agent.get(state).set(hx(target)).expect(200)).text, id);
      const root = $(`#${id}`);
      expect([root.attr('hx-get'), root.attr('hx-trigger'), root.attr('hx-swap')]).toEqual([polled, trigger, 'outerHTML']);
    }
  });

  it('when links are rendered, then tab and range links carry feature, tab and range, cards their feature on the same tab and range (issue 13: state kept), and each hx-get is its href', async () => {
    const { f } = await seededFeature(c);
    const $ = await c.page(featuresUrl({ feature: f.name, range: '7d' }));
    const links = $('#feature-panel a[hx-get]')
      .toArray()
      .map((a) => ({ href: $(a).attr('href')!, hxGet: $(a).attr('hx-get') }));
    for (const card of $('.feature-card').toArray()) expect($(card).attr('hx-get')).toBe($(card).attr('href'));
    // 5 tabs, 4 ranges, 4 environments, 2 splits (whole, by prompt version).
    expect(links.length).toBe(15);
    for (const { href, hxGet } of links) {
      expect(hxGet).toBe(href);
      const q = new URL(href, 'http://x').searchParams;
      expect([q.get('feature'), q.get('tab'), q.get('range')].every(Boolean), href).toBe(true);
    }
    const tabs = $('#feature-panel nav.tabs a')
      .toArray()
      .map((a) => $(a).attr('href'));
    expect(tabs).toEqual(
      ['overview', 'models', 'prompts', 'testing', 'settings'].map((tab) => featuresUrl({ feature: f.name, tab, range: '7d' })),
    );
    const environments = $('#feature-overview nav.environments a')
      .toArray()
      .map((a) => $(a).attr('href'));
    expect(environments).toEqual(
      ['development', 'staging', 'production', 'all'].map((environment) =>
        featuresUrl({ feature: f.name, tab: 'overview', range: '7d', environment }),
      ),
    );
    expect(text($('#feature-overview nav.environments a[aria-current="page"]'))).toBe('Production');
    const ranges = $('#feature-overview nav.ranges a')
      .toArray()
      .map((a) => $(a).attr('href'));
    expect(ranges).toEqual(['1h', '24h', '7d', '30d'].map((range) => featuresUrl({ feature: f.name, tab: 'overview', range })));
    expect($(`.feature-card[data-feature="${f.name}"]`).attr('href')).toBe(featuresUrl({ feature: f.name, tab: 'overview', range: '7d' }));
    const other = await makeFeature(t.db);
    // Found through the cards' search, which the card's link keeps too.
    const $models = await c.page(featuresUrl({ feature: f.name, tab: 'models', range: '30d', environment: 'staging', q: other.name }));
    expect($models(`.feature-card[data-feature="${other.name}"]`).attr('href')).toBe(
      featuresUrl({ feature: other.name, tab: 'models', range: '30d', environment: 'staging', q: other.name }),
    );
    expect($('#feature-overview a[download]').attr('href')).toBe(
      featuresUrl({ feature: f.name, tab: 'overview', range: '7d', format: 'csv' }),
    );
  });

  it('when the testing tab is asked for, then the panel has its playground and no overview', async () => {
    const f = await makeFeature(t.db);
    const $ = fragment(
      (
        await c.admin.agent
          .get(featuresUrl({ feature: f.name, tab: 'testing' }))
          .set(hx('section#feature-panel'))
          .expect(200)
      ).text,
      'feature-panel',
    );
    expect(text($('#playground-heading'))).toBe('Playground');
    expect($('#feature-overview')).toHaveLength(0);
  });

  it('when the models tab is shown, then it lists the model per environment, the candidates with their what-if cost, and the history of the environment', async () => {
    const { f } = await seededFeature(c);
    const $ = await c.page(featuresUrl({ feature: f.name, tab: 'models' }));
    expect(text($('#environments tr[data-environment="production"] td').first())).toBe(sonnet.display_name);
    for (const env of ['development', 'staging'])
      expect(text($(`#environments tr[data-environment="${env}"] td`))).toBe('No model assigned');
    expect(text($('#current-model strong').first())).toBe(sonnet.display_name);
    expect($('#candidates tr.current th').text()).toContain(sonnet.display_name);
    expect($(`#candidates tr[data-model="${mini.name}"] td[data-col="what-if"]`).text()).toMatch(/^\$/);
    const history = tableRows($, '#assignment-history tbody');
    expect(history.map((r) => [r[0], r[3]])).toEqual([
      [sonnet.display_name, 'test'],
      [mini.display_name, 'test'],
    ]);
    expect(history[0][4]).toBe('active');
  });
});
