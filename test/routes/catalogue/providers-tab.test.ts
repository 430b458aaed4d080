import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { providerSummaries } from '../../../src/metrics/summaries.ts';
import { apiKey, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { ProviderRecord } from '../../setup/rows.ts';
import { DAY, insertUsage, MINUTE, modelRef } from '../../setup/usage-factory.ts';
import { type Brute, brute, monthStartOf } from './figures.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, openCatalogue, PROVIDERS, providerFacts } from './setup.ts';

// The Providers tab of /platform/ai-management/models: its stats and a card per provider, checked
// against a brute-force computation over the raw ai_usage_logs rows (SPEC §4) and the metrics service.

const fmt = createFormat('UTC');

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('providers_tab');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

/** Every provider of the database, with its figures by brute force. */
async function everyProvider(now: number) {
  const providers: ProviderRecord[] = await c.db('ai_providers').select('*');
  const figures = new Map<string, Brute>();
  for (const p of providers) figures.set(p.id, await brute(c.db, 'provider_id', p.id, now));
  return { providers, figures };
}

describe('GET /platform/ai-management/models (Providers tab)', () => {
  it('when providers have traffic, then the stats (active providers, models, monthly spend, average health) equal a brute-force computation over the raw rows', async () => {
    const $ = await c.page(CATALOGUE);
    const now = Date.now();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Providers');
    const { providers, figures } = await everyProvider(now);
    // The fixture gives the checks something to find: two scored providers, spend outside the day.
    const acme = figures.get(fx.acme.id)!;
    expect(acme.requests).toBe(17);
    expect(acme.successRate).toBeCloseTo((15 / 17) * 100, 9);
    expect(acme.allTime).toBeGreaterThan(acme.monthly);
    if (now - monthStartOf(now) > 3 * DAY) expect(acme.monthly).toBeGreaterThan(acme.cost24h);
    const cobalt = figures.get(fx.cobalt.id)!;
    expect(cobalt.latencyScore).toBeGreaterThan(0);
    expect(cobalt.latencyScore).toBeLessThan(100);
    expect(cobalt.uptime).toBeCloseTo(((1441 - 3) / 1441) * 100, 9);

    const scored = [...figures.values()].map((f) => f.health).filter((h): h is number => h !== null);
    expect(scored).toHaveLength(2);
    const spend = [...figures.values()].reduce((a, f) => a + f.monthly, 0);
    const stat = (name: string) => text($(`#provider-stats [data-stat="${name}"]`));
    expect(stat('active')).toBe(String(providers.filter((p) => p.status === 'active').length));
    expect(stat('active')).toBe('3'); // simulator, Acme, Cobalt
    expect(stat('models')).toBe(String(Number((await c.db('ai_models').count({ n: '*' }).first())!.n)));
    expect(stat('spend')).toBe(fmt.usd(spend));
    expect(stat('health')).toBe(fmt.decimal(scored.reduce((a, b) => a + b, 0) / scored.length, 0));
    expect(text($('#provider-stats .metric').last().find('.sub'))).toBe('2 providers scored: traffic in 24 h or a failed probe');
    // How the score is computed is said on the tab.
    expect(text($('#catalogue-tab > p.muted').first())).toContain('0.5 × success rate + 0.3 × uptime + 0.2 × latency score');
    expect($('#add-provider form[action="/platform/ai-management/providers"]')).toHaveLength(1);
  });

  it('when providers have traffic, then each card (status, models, spend, uptime, response, health bar) equals a brute-force computation over the raw rows and the metrics service', async () => {
    const $ = await c.page(CATALOGUE);
    const now = Date.now();
    const { providers, figures } = await everyProvider(now);
    const service = await providerSummaries(
      c.db,
      providers.map((p) => p.id),
      new Date(now),
    );
    const serving: { provider_id: string; id: string }[] = await c
      .db('feature_model_assignments as a')
      .join('ai_models as m', 'm.id', 'a.model_id')
      .where('a.is_active', true)
      .select('m.provider_id', 'm.id');
    expect(
      $('#provider-cards li.provider-card')
        .toArray()
        .map((li) => $(li).attr('data-provider'))
        .sort(),
    ).toEqual(providers.map((p) => p.name).sort());
    for (const p of providers) {
      const b = figures.get(p.id)!;
      const s = service.get(p.id)!;
      const card = $(`#provider-cards li.provider-card[data-provider="${p.name}"]`);
      const models = Number((await c.db('ai_models').where({ provider_id: p.id }).count({ n: '*' }).first())!.n);
      const servingModels = new Set(serving.filter((r) => r.provider_id === p.id).map((r) => r.id)).size;
      expect(text(card.find('.badge[class*="provider-"]')), p.name).toBe(p.status);
      expect(providerFacts($, p.name), p.name).toEqual({
        Models: `${models} (${servingModels} serving)`,
        'Monthly spend': fmt.usd(b.monthly),
        Uptime: fmt.percent(b.uptime),
        'Avg response': fmt.ms(b.meanMs),
      });
      // The metrics service says the same.
      expect(s.monthly_spend, p.name).toBeCloseTo(b.monthly, 8);
      expect(s.health_score === null ? null : Number(s.health_score.toFixed(6)), p.name).toBe(
        b.health === null ? null : Number(b.health.toFixed(6)),
      );
      expect(text(card.find('[data-health]')), p.name).toBe(fmt.decimal(b.health, 0));
      // The bar is there only with a score: an empty bar would read as a bad one.
      if (b.health === null) expect(card.find('meter'), p.name).toHaveLength(0);
      else expect(Number(card.find('meter').attr('value')), p.name).toBeCloseTo(b.health, 1);
      expect(card.find('a.button').attr('href')).toBe(`${PROVIDERS}/${p.name}`);
      expect(text(card.find('a.button'))).toBe(`Manage ${p.display_name}`);
      expect(text(card.find('a.button .sr-only'))).toBe(p.display_name);
    }
    expect(providerFacts($, 'acme').Models).toBe('5 (1 serving)');
  });

  it('when a provider failed a probe in the last 15 minutes, then its card caps the health score at 50 and says so', async () => {
    const p = await makeProvider(c.db, { status: 'active', key: apiKey() });
    const m = await makeModel(c.db, { provider_id: p.id });
    const f = await makeFeature(c.db);
    await insertUsage(c.db, [
      { feature_id: f.id, model: modelRef(m, p), response_time_ms: 200, created_at: new Date(Date.now() - 30 * MINUTE) },
    ]);
    let $ = await c.page(CATALOGUE);
    expect(text($(`li[data-provider="${p.name}"] [data-health]`))).toBe(
      fmt.decimal((await brute(c.db, 'provider_id', p.id, Date.now())).health, 0),
    );
    expect(Number(text($(`li[data-provider="${p.name}"] [data-health]`)))).toBeGreaterThan(90);
    await c.db('health_checks').insert({
      provider_id: p.id,
      kind: 'probe',
      status: 'error',
      latency_ms: 3,
      error: 'the provider answered 503',
      checked_at: new Date(Date.now() - 5 * MINUTE),
    });
    $ = await c.page(CATALOGUE);
    expect(text($(`li[data-provider="${p.name}"] [data-health]`))).toBe('50');
    expect(text($(`li[data-provider="${p.name}"] .health .warning`))).toBe('probe failed: capped at 50');
    // Put back out of the way of the other tests' totals.
    await c.db('health_checks').where({ provider_id: p.id }).del();
    await c.db('ai_providers').where({ id: p.id }).update({ status: 'inactive' });
  });

  it('when a viewer looks, then the cards are shown without the add-provider form', async () => {
    const $ = await c.page(CATALOGUE, c.viewer);
    expect($('#provider-cards li.provider-card[data-provider="acme"]')).toHaveLength(1);
    expect($('#add-provider, main form[method="post"]')).toHaveLength(0);
  });
});
