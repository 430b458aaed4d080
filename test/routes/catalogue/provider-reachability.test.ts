import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { providerSummaries } from '../../../src/metrics/summaries.ts';
import { apiKey, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { answerJson, closedPort, fakeProvider, MODEL_LIST } from '../../setup/fake-provider.ts';
import { text } from '../../setup/html.ts';
import { insertUsage, MINUTE, modelRef } from '../../setup/usage-factory.ts';
import { CATALOGUE, type Catalogue, openCatalogue, PROVIDERS } from './setup.ts';

// Providers that do not answer look it: a red "unreachable since …" badge with the last error instead
// of a green "active", a capped score that counts in the average; activation tests the connection
// first and goes ahead on a failed test only when the admin says so again.

const fmt = createFormat('UTC');

let c: Catalogue;
beforeAll(async () => {
  c = await openCatalogue('provider_reachability');
});
afterAll(() => c?.close());

/** An active keyed provider at a loopback port nobody listens on, its "Test connection" pressed: a stored failed check. */
async function deadProvider() {
  const p = await makeProvider(c.db, { status: 'active', key: apiKey(), base_url: `http://127.0.0.1:${await closedPort()}/v1` });
  await c.postForm(`${PROVIDERS}/${p.name}/test`, {}).expect(303);
  const check = await c.db('health_checks').where({ provider_id: p.id }).first();
  expect(check).toMatchObject({ status: 'error' });
  return { ...p, error: check!.error as string, since: check!.checked_at as Date };
}

describe('GET /platform/ai-management/models (Providers tab) with providers that never answer', () => {
  it('when three providers fail their probes beside a healthy one, then their cards say unreachable with the error, score the cap, and count in the average', async () => {
    const healthy = await makeProvider(c.db, { status: 'active', kind: 'simulator', base_url: null });
    const model = await makeModel(c.db, { provider_id: healthy.id });
    const feature = await makeFeature(c.db);
    await insertUsage(c.db, [
      { feature_id: feature.id, model: modelRef(model, healthy), response_time_ms: 200, created_at: new Date(Date.now() - 30 * MINUTE) },
    ]);
    const dead = [await deadProvider(), await deadProvider(), await deadProvider()];

    const $ = await c.page(CATALOGUE);
    for (const p of dead) {
      const card = $(`li.provider-card[data-provider="${p.name}"]`);
      expect(text(card.find('[data-reachability]'))).toBe(`unreachable since ${fmt.dateTime(p.since)}`);
      expect(card.find('.provider-active')).toHaveLength(0);
      expect(text(card.find('[data-last-error]'))).toBe(`Last probe failed: ${p.error}`);
      expect(text(card.find('[data-health]'))).toBe('50');
      expect(text(card.find('.health .warning'))).toBe('probe failed: capped at 50');
    }
    const healthyScore = (await providerSummaries(c.db, [healthy.id], new Date())).get(healthy.id)!.health_score!;
    expect(healthyScore).toBeGreaterThan(90);
    expect(text($('#provider-stats [data-stat="health"]'))).toBe(fmt.decimal((healthyScore + 3 * 50) / 4, 0));
    expect(text($('#provider-stats .metric').last().find('.sub'))).toBe('4 providers scored: traffic in 24 h or a failed probe');
    expect(text($(`li.provider-card[data-provider="${healthy.name}"] .badge.provider-active`))).toBe('active');
    expect(text($(`li.provider-card[data-provider="${healthy.name}"] .simulated`))).toBe('simulated');
  });

  it('when a provider never answers, then its page shows the red badge, the last error and the capped score, not "no data"', async () => {
    const p = await deadProvider();
    const $ = await c.page(`${PROVIDERS}/${p.name}`);
    expect(text($('h1 [data-reachability]'))).toBe(`unreachable since ${fmt.dateTime(p.since)}`);
    expect($('h1 .provider-active')).toHaveLength(0);
    expect(text($('[data-last-error]'))).toBe(`Not answering since ${fmt.dateTime(p.since)}. Last probe: ${p.error}`);
    expect(text($('[data-metric="health"]'))).toBe('50.0');
    expect(text($('#score-explained'))).toContain('the score is the cap, 50');
  });
});

describe('POST /platform/ai-management/providers/:slug/status (activation tests the connection first)', () => {
  it('when the test fails, then 422 with the failure and an "Activate anyway" form, and nothing is written; "anyway" activates and audits it', async () => {
    const p = await makeProvider(c.db, { status: 'inactive', key: apiKey(), base_url: `http://127.0.0.1:${await closedPort()}/v1` });
    const before = await c.snapshot();
    const res = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active' }).expect(422);
    const $ = load(res.text);
    const warning = $('#activate-warning[role="alert"]');
    expect(text(warning.find('p'))).toMatch(new RegExp(`^The connection test of ${p.display_name} failed: .+\\. It stays inactive;`));
    const anyway = warning.find('form');
    expect(anyway.attr('method')).toBe('post');
    expect(anyway.attr('action')).toBe(`${PROVIDERS}/${p.name}/status`);
    expect(anyway.find('input[name="_csrf"]').val()).toBe(c.admin.csrf);
    expect(anyway.find('input[name="status"]').val()).toBe('active');
    expect(anyway.find('input[name="despite_failed_test"]').val()).toBe('yes');
    expect(text(anyway.find('button'))).toBe('Activate anyway');
    expect(await c.snapshot()).toEqual(before);

    const done = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active', despite_failed_test: 'yes' }).expect(303);
    const page = await c.page(done.headers.location);
    expect(text(page('.flash-error'))).toMatch(new RegExp(`^${p.display_name} is now active\\. Its connection test failed: .+\\.$`));
    expect((await c.db('ai_providers').where({ id: p.id }).first())?.status).toBe('active');
    const audit = await c.auditFor('provider', p.id);
    expect(audit.map((a) => a.action)).toEqual(['provider.activated']);
    expect(audit[0].after).toMatchObject({ status: 'active', connection_test: expect.stringMatching(/^failed: .+; activated anyway$/) });
  });

  it('when the test passes, then the provider is activated at once and the flash gives the test’s result', async () => {
    const fake = await fakeProvider(answerJson(MODEL_LIST));
    try {
      const p = await makeProvider(c.db, { status: 'inactive', key: apiKey(), base_url: fake.url });
      const res = await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active' }).expect(303);
      expect(text((await c.page(res.headers.location))('.flash-success'))).toMatch(
        new RegExp(`^${p.display_name} is now active\\. Connection test passed in \\d+ ms\\.$`),
      );
      expect(fake.hits.map((h) => `${h.method} ${h.url}`)).toEqual(['GET /v1/models']);
      expect((await c.auditFor('provider', p.id))[0].after).toMatchObject({ connection_test: expect.stringMatching(/^passed in \d+ ms$/) });
    } finally {
      await fake.close();
    }
  });

  it('when an admin sends despite_failed_test that is not yes or no, then 422 and nothing is written', async () => {
    const p = await makeProvider(c.db, { status: 'inactive', key: apiKey(), base_url: `http://127.0.0.1:${await closedPort()}/v1` });
    const before = await c.snapshot();
    await c.postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active', despite_failed_test: 'maybe' }).expect(422);
    expect(await c.snapshot()).toEqual(before);
  });
});
