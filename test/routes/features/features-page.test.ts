import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFeatures } from '../../../src/db/queries/features.ts';
import { createFormat } from '../../../src/format.ts';
import { runRollup } from '../../../src/metrics/rollup.ts';
import { featureSummaries, type Summary } from '../../../src/metrics/summaries.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, suffix } from '../../setup/factories.ts';
import { errorMessage, text } from '../../setup/html.ts';
import { insertUsage, type ModelRef } from '../../setup/usage-factory.ts';
import { type Features, featuresUrl, openFeatures, PATH, use } from './setup.ts';

// The features page: a card per feature with its 24 h figures (featureSummaries, raw and rolled up),
// the selected feature's panel and its tabs; a bad query is a 400 (an unknown feature a 404).

const fmt = createFormat('UTC');

let c: Features;
let t: TestContext;
let mini: ModelRef;
let sonnet: ModelRef;
beforeAll(async () => {
  c = await openFeatures();
  ({ t, mini, sonnet } = c);
});
afterAll(() => c?.close());

const cardFacts = ($: CheerioAPI, name: string) =>
  $(`.feature-card[data-feature="${name}"] dd`)
    .toArray()
    .map((d) => text($(d)));
const summaryFacts = (s: Summary) => [
  fmt.percent(s.uptime),
  fmt.ms(s.response_time),
  fmt.integer(s.total_requests),
  fmt.usd(s.cost_per_request, 4),
];

describe('GET /platform/ai-management/features', () => {
  it('when features have usage, then every card shows the 24 h figures of featureSummaries, raw and rolled up, and warns only above a 5% error rate', async () => {
    // Found through the cards' search (their display names share a word of their own): other files add features meanwhile.
    const run = `Cards ${suffix()}`;
    const [calm, noisy, idle] = [
      await makeFeature(t.db, { display_name: `${run} calm` }),
      await makeFeature(t.db, { display_name: `${run} noisy` }),
      await makeFeature(t.db, { display_name: `${run} idle` }),
    ];
    await insertUsage(t.db, [
      ...Array.from({ length: 20 }, (_, i) =>
        use(calm, mini, 120 + i, { status: i === 0 ? 'error' : 'success', response_time_ms: 100 + 10 * i }),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        use(noisy, sonnet, 300 + i, { status: i < 2 ? 'error' : 'success', response_time_ms: 1000 + i }),
      ),
    ]);
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await runRollup({ db: t.db });
      const listed = (await listFeatures(t.db)).filter((f) => f.display_name.startsWith(run)).map((f) => f.name);
      const $ = await c.page(featuresUrl({ q: run.toUpperCase() }));
      const sums = await featureSummaries(t.db, [calm, noisy, idle], '24h', new Date());
      for (const f of [calm, noisy, idle]) expect(cardFacts($, f.name), `${stage} ${f.name}`).toEqual(summaryFacts(sums.get(f.id)!));
      expect(sums.get(calm.id)!.error_rate).toBe(5);
      expect($(`.feature-card[data-feature="${calm.name}"] .warning`)).toHaveLength(0);
      expect(text($(`.feature-card[data-feature="${noisy.name}"] .warning`))).toBe('Error rate 20.0%');
      expect(cardFacts($, idle.name)).toEqual(['no data', 'no data', '0', 'no data']);
      const shown = $('.feature-card')
        .toArray()
        .map((a) => $(a).attr('data-feature'));
      expect(new Set(shown).size).toBe(shown.length);
      expect(listed.filter((name) => !shown.includes(name))).toEqual([]);
      expect(text($('#feature-count'))).toContain(`1–3 of 3 features matching “${run.toUpperCase()}”`);
    }
  });

  it('when ?feature=<slug> is given, then that card is aria-current and its panel shows five tabs with the asked one current', async () => {
    const f = await makeFeature(t.db);
    const $ = await c.page(featuresUrl({ feature: f.name, tab: 'settings' }));
    expect(
      $('.feature-card[aria-current="true"]')
        .toArray()
        .map((a) => $(a).attr('data-feature')),
    ).toEqual([f.name]);
    expect($('#feature-panel').attr('data-feature')).toBe(f.name);
    expect(
      $('#feature-panel nav.tabs a')
        .toArray()
        .map((a) => $(a).text()),
    ).toEqual(['Overview', 'Models', 'Prompts', 'Testing', 'Settings']);
    expect($('#feature-panel nav.tabs a[aria-current="page"]').text()).toBe('Settings');
  });

  it('when no feature is named, then the first feature is selected on its overview tab', async () => {
    const $ = await c.page(PATH);
    const first = (await listFeatures(t.db))[0];
    expect($('#feature-panel').attr('data-feature')).toBe(first.name);
    expect($('.feature-card[aria-current="true"]').attr('data-feature')).toBe(first.name);
    expect($('#feature-panel nav.tabs a[aria-current="page"]').text()).toBe('Overview');
  });

  it.each([
    [`feature=nope-${suffix()}`, 404, 'Feature not found'],
    ['range=2h', 400, 'range must be one of 1h, 24h, 7d, 30d'],
    ['tab=bogus', 400, 'tab must be one of overview, models, prompts, testing, settings'],
    ['environment=x', 400, 'environment must be one of development, staging, production, all'],
    ['format=pdf', 400, 'format must be one of html, csv'],
  ])('when the query has %s, then %i saying "%s"', async (query, status, message) => {
    const res = await c.admin.agent.get(`${PATH}?${query}`).expect(status);
    expect(errorMessage(res.text)).toBe(message);
  });
});
