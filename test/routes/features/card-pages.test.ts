import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFeatures } from '../../../src/db/queries/features.ts';
import { CARDS_PER_PAGE } from '../../../src/pages/feature-cards.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature } from '../../setup/factories.ts';
import { fragment, hx, text } from '../../setup/html.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { insertUsage, type ModelRef } from '../../setup/usage-factory.ts';
import { type Features, featuresUrl, openFeatures, PATH, use } from './setup.ts';

// Issue 19: the card strip shows a page of cards, those that need attention first, then by name,
// with a search and pages in the URL; the selected feature stays in sight. A database of the file's
// own, so the counts are the file's to know.

let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let c: Features;
let t: TestContext;
let mini: ModelRef;
beforeAll(async () => {
  own = await ownSeededDatabase('cards');
  c = await openFeatures(own.db);
  ({ t, mini } = c);
  // Alphabetical display names, 30 of them, besides the three reference features.
  for (let i = 0; i < 30; i++)
    await makeFeature(t.db, { name: `bulk-${String(i).padStart(2, '0')}`, display_name: `Bulk ${String(i).padStart(2, '0')}` });
});
afterAll(async () => {
  await c?.close();
  await own?.drop();
});

const cardNames = ($: CheerioAPI) =>
  $('.feature-card')
    .toArray()
    .map((a) => $(a).attr('data-feature')!);
const sortedDisplayNames = async () => (await listFeatures(t.db)).map((f) => f.display_name).sort((a, b) => a.localeCompare(b));

describe('GET /platform/ai-management/features, the card strip', () => {
  it('when there are more features than a page holds, then pages of 24 cover every feature once, with a count and links', async () => {
    const all = await listFeatures(t.db);
    const selected = all[0].name;
    const first = await c.page(featuresUrl({ feature: selected }));
    expect(cardNames(first)).toHaveLength(CARDS_PER_PAGE);
    expect(text(first('#feature-count'))).toBe(`1–${CARDS_PER_PAGE} of ${all.length} features`);
    expect(first('nav.pager a[rel="prev"]')).toHaveLength(0);
    const next = first('nav.pager a[rel="next"]');
    expect(next.attr('href')).toBe(featuresUrl({ feature: selected, tab: 'overview', range: '24h', page: '2' }));
    expect(next.attr('hx-get')).toBe(next.attr('href'));
    expect(next.attr('hx-target')).toBe('#feature-cards');
    const second = await c.page(next.attr('href')!);
    expect(text(second('#feature-count'))).toContain(`${CARDS_PER_PAGE + 1}–${all.length} of ${all.length} features`);
    expect(second('nav.pager a[rel="prev"]').attr('href')).toBe(featuresUrl({ feature: selected, tab: 'overview', range: '24h' }));
    expect(second('nav.pager a[rel="next"]')).toHaveLength(0);
    // No feature needs attention here: by display name, every feature once across the pages.
    const shown = [...cardNames(first), ...cardNames(second).filter((n) => n !== selected)];
    expect(shown.sort()).toEqual(all.map((f) => f.name).sort());
    const names = [first, second].flatMap(($) =>
      $('.feature-card:not(:has(.pinned-note)) .feature-card-title strong')
        .toArray()
        .map((s) => text($(s))),
    );
    expect(names).toEqual(await sortedDisplayNames());
    // The polled strip keeps its page; a page past the last shows the last.
    expect(second('#feature-cards').attr('hx-get')).toBe(next.attr('href'));
    const past = await c.page(featuresUrl({ feature: selected, page: '9' }));
    expect(text(past('#feature-count'))).toContain(`${CARDS_PER_PAGE + 1}–${all.length} of ${all.length} features`);
  });

  it('when a feature needs attention, then its card comes first: a breached threshold or a firing alert', async () => {
    const breaching = await makeFeature(t.db, { display_name: 'Zulu breaching', error_rate_threshold: 10 });
    const alerting = await makeFeature(t.db, { display_name: 'Yankee alerting' });
    await insertUsage(t.db, [use(breaching, mini, 5, { status: 'error' }), use(breaching, mini, 6)]);
    const [rule] = await t
      .db('alert_rules')
      .insert({ feature_id: alerting.id, environment: 'production', kind: 'error_rate', threshold: 10, created_by: 'test' })
      .returning('*');
    const at = new Date();
    await t
      .db('alerts')
      .insert({ rule_id: rule!.id, feature_id: alerting.id, state: 'firing', since: at, started_at: at, evaluated_at: at });
    const $ = await c.page(PATH);
    // Both need attention, so they lead, by name among themselves; the rest follow by name.
    expect(cardNames($).slice(0, 2)).toEqual([alerting.name, breaching.name]);
    expect(text($(`.feature-card[data-feature="${alerting.name}"] [data-alerts-firing]`))).toBe('Alerts firing: 1');
    expect(text($(`.feature-card[data-feature="${breaching.name}"] .warning`))).toBe('Error rate 50.0%');
    await t.db('alerts').where({ rule_id: rule!.id }).delete();
    await t.db('alert_rules').where({ id: rule!.id }).delete();
  });

  it('when searched, then only features whose name or display name holds the words are shown, whatever the case, and the search is kept', async () => {
    const byName = await c.page(featuresUrl({ q: 'BULK-0' }));
    expect(cardNames(byName).filter((n) => n.startsWith('bulk-'))).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-0${i}`));
    expect(text(byName('#feature-count'))).toContain('1–10 of 10 features matching “BULK-0”');
    expect(byName('#feature-search input[name="q"]').val()).toBe('BULK-0');
    const byDisplay = await c.page(featuresUrl({ feature: 'bulk-05', q: 'bulk 1' }));
    expect(cardNames(byDisplay)).toEqual(['bulk-05', ...Array.from({ length: 10 }, (_, i) => `bulk-1${i}`)]);
    // The selected feature does not match: its card is shown first, marked, and still current.
    expect(text(byDisplay('.feature-card[data-feature="bulk-05"] .pinned-note'))).toBe('Selected · not on this page');
    expect(byDisplay('.feature-card[aria-current="true"]').attr('data-feature')).toBe('bulk-05');
    expect(byDisplay('#feature-panel').attr('data-feature')).toBe('bulk-05');
    // Cards, the polled strip and the search form keep the search and the panel's state.
    expect(byDisplay('.feature-card[data-feature="bulk-12"]').attr('href')).toBe(
      featuresUrl({ feature: 'bulk-12', tab: 'overview', range: '24h', q: 'bulk 1' }),
    );
    expect(byDisplay('#feature-cards').attr('hx-get')).toBe(
      featuresUrl({ feature: 'bulk-05', tab: 'overview', range: '24h', q: 'bulk 1' }),
    );
    expect(
      byDisplay('#feature-search input[type="hidden"]')
        .toArray()
        .map((i) => [byDisplay(i).attr('name'), byDisplay(i).val()]),
    ).toEqual([
      ['feature', 'bulk-05'],
      ['tab', 'overview'],
      ['range', '24h'],
    ]);
    const none = await c.page(featuresUrl({ q: 'no such feature' }));
    expect(text(none('#feature-count'))).toBe('No feature matches “no such feature”. Show every feature');
  });

  it('when the selected feature is on the page, then its card is not repeated', async () => {
    const $ = await c.page(featuresUrl({ feature: 'bulk-01', q: 'bulk-0' }));
    expect(cardNames($).filter((n) => n === 'bulk-01')).toHaveLength(1);
    expect($('.pinned-note')).toHaveLength(0);
  });

  it('when htmx asks for the cards with a search and a page, then the strip alone answers', async () => {
    const res = await c.admin.agent
      .get(featuresUrl({ q: 'bulk', page: '2' }))
      .set(hx('section#feature-cards'))
      .expect(200);
    const $ = fragment(res.text, 'feature-cards');
    expect(text($('#feature-count'))).toContain('25–30 of 30 features matching “bulk”');
    expect($('#feature-search')).toHaveLength(0);
  });

  it('when htmx swaps the panel (a tab), then the search form comes along out of band with the new feature and tab', async () => {
    const res = await c.admin.agent
      .get(featuresUrl({ feature: 'bulk-07', tab: 'settings', q: 'bulk' }))
      .set(hx('section#feature-panel'))
      .expect(200);
    const $ = fragment(res.text, 'feature-panel');
    const form = $('#feature-search');
    expect(form.attr('hx-swap-oob')).toBe('true');
    expect(form.find('input[name="feature"]').val()).toBe('bulk-07');
    expect(form.find('input[name="tab"]').val()).toBe('settings');
    expect(form.find('input[name="q"]').val()).toBe('bulk');
  });
});
