import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS } from '../../seeds/reference-data.ts';
import { createFormat } from '../../src/format.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeAssignment, makeFeature, makeUser, suffix } from '../setup/factories.ts';
import { getPage } from '../setup/html.ts';
import { type Agent, signInAs } from '../setup/session.ts';

let t: TestContext;
let agent: Agent;
beforeAll(async () => {
  t = startTestApp();
  ({ agent } = await signInAs(t, 'viewer'));
});
afterAll(() => t.close());

const page = (path: string) => getPage(agent, path);

describe('the shell', () => {
  it('when a page is shown, then it has the navigation, the current page marked, the CSRF meta and local scripts only', async () => {
    const $ = await page('/platform/ai-management/models');
    expect(
      $('.top nav a')
        .map((_i, a) => $(a).text())
        .get(),
      // Alerts counts the firing ones, which other test files may have made.
    ).toEqual([
      'Overview',
      'Features',
      'Models & Providers',
      'Approvals',
      'Audit log',
      expect.stringMatching(/^Alerts( \(\d+ firing\))?$/),
      'API keys',
    ]);
    expect($('.top nav a[aria-current="page"]').text()).toBe('Models & Providers');
    expect($('meta[name="csrf-token"]').attr('content')).toMatch(/^[0-9a-f]{64,}$/);
    const scripts = $('script')
      .map((_i, s) => $(s).attr('src'))
      .get();
    expect(scripts).toEqual(['/static/vendor/htmx.min.js', '/static/js/app.js']);
    expect($('script:not([src])')).toHaveLength(0);
  });
});

describe('GET /platform/ai-management/features', () => {
  it('when a feature has a production model, then its card names it, and a feature without one says "No model assigned"', async () => {
    const feature = await makeFeature(t.db, { display_name: `Served ${suffix()}` });
    const bare = await makeFeature(t.db);
    const model: { id: string } = await t.db('ai_models').where({ name: 'gpt-4o-mini' }).first('id');
    await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, environment: 'production' });
    const [name, display] = [feature.name, feature.display_name];
    const $ = await page('/platform/ai-management/features');
    const card = $(`.feature-card[data-feature="${name}"]`);
    expect(card.find('strong').first().text()).toBe(display);
    expect(card.find('.feature-card-title .muted').text()).toBe('GPT-4o mini');
    expect($(`.feature-card[data-feature="${bare.name}"] .feature-card-title .muted`).text()).toBe('No model assigned');
  });
});

describe('GET /platform/ai-management/models', () => {
  it('when shown, then every provider in the database has a card, and the models tab lists every model with its real price and status', async () => {
    const $ = await page('/platform/ai-management/models');
    const providers = await t.db('ai_providers').pluck('name');
    expect(
      $('[data-provider]')
        .map((_i, r) => $(r).attr('data-provider'))
        .get()
        .sort(),
    ).toEqual(providers.sort());
    expect($('[data-provider="simulator"] .feature-card-title .muted').text()).toBe('simulator');
    const models = await page('/platform/ai-management/models?tab=models');
    expect(models('[data-model]').length).toBe(Number((await t.db('ai_models').count({ n: '*' }).first())!.n));
    const sonnet = models('[data-model="claude-3-5-sonnet-20241022"]');
    expect(sonnet.find('dt:contains("Price / 1k") + dd').text()).toBe('$0.003 in · $0.015 out');
    expect(models('[data-model="gpt-4-vision-preview"] .badge').text()).toBe('offline');
    // Every model of the reference data (no other file changes those here) with its price and status as seeded.
    const fmt = createFormat('UTC');
    for (const m of MODELS) {
      const card = models(`[data-model="${m.name}"]`);
      expect(card, m.name).toHaveLength(1);
      expect(card.find('dt:contains("Price / 1k") + dd').text(), m.name).toBe(
        `${fmt.price(m.input_price_per_1k)} in · ${fmt.price(m.output_price_per_1k)} out`,
      );
      expect(card.find('.badge').text(), m.name).toBe(m.status);
    }
  });
});

describe('GET /platform/ai-management/audit', () => {
  it('when changes were made, then they are listed newest first with their actor', async () => {
    const user = await makeUser(t.db, 'viewer');
    const $ = await page('/platform/ai-management/audit');
    const row = $(`#audit tbody tr`).filter((_i, r) => $(r).find('code.muted').text() === user.id);
    expect(row.find('code').first().text()).toBe('user.created');
    expect(row.find('td').eq(1).text()).toContain('test');
    const times = $('#audit time')
      .map((_i, e) => $(e).attr('datetime'))
      .get();
    expect([...times].sort().reverse()).toEqual(times);
  });
});

describe('GET /platform/ai-management/audit filters', () => {
  it('when filtered by entity, action prefix and actor, then only matching entries are listed, and the filter form keeps the values', async () => {
    const user = await makeUser(t.db, 'viewer');
    const $ = await page(`/platform/ai-management/audit?entity=user&action=user.cr&actor=${encodeURIComponent('TEST')}`);
    const actions = $('#audit tbody tr code:not(.muted)')
      .map((_i, c) => $(c).text())
      .get();
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['user.created']));
    expect(
      $('#audit tbody tr td:nth-child(4)')
        .map((_i, c) => $(c).text().split(' ')[0])
        .get()
        .every((e) => e === 'user'),
    ).toBe(true);
    expect($(`#audit tr td code.muted:contains("${user.id}")`)).toHaveLength(1);
    expect($('#audit-filter select[name="entity"] option[selected]').val()).toBe('user');
    expect($('#audit-filter input[name="action"]').val()).toBe('user.cr');
  });

  it('when a filter matches nothing or is malformed, then it says so or answers 400', async () => {
    const $ = await page('/platform/ai-management/audit?action=no.such.action');
    expect($('#audit-results .empty').text()).toContain('No change matches these filters');
    await agent.get('/platform/ai-management/audit?action=DROP%20TABLE').expect(400);
    await agent.get('/platform/ai-management/audit?before=-1').expect(400);
  });

  it('when asked by htmx, then only the results fragment comes back', async () => {
    const res = await agent.get('/platform/ai-management/audit?entity=user').set('HX-Request', 'true').expect(200);
    const $ = cheerio.load(res.text);
    expect($('#audit-results')).toHaveLength(1);
    expect($('#audit-filter')).toHaveLength(0);
    expect(res.text).not.toMatch(/<html/i);
  });
});

describe('GET /platform/ai-management/deployments/:id', () => {
  it('when a deployment ran, then its page lists each check; while it runs, the status polls and refreshes without JavaScript', async () => {
    const feature = (await t.db('ai_features').where({ name: 'chatbot' }).first('id'))!;
    const model = (await t.db('ai_models').where({ name: 'gpt-4o-mini' }).first('id'))!;
    const checks = [
      { name: 'model', ok: true, detail: 'fits' },
      { name: 'provider', ok: false, detail: 'OpenAI is inactive' },
    ];
    const [done] = await t
      .db('deployments')
      .insert({
        feature_id: feature.id,
        model_id: model.id,
        environment: 'staging',
        kind: 'assign',
        requested_by: 'test',
        status: 'failed',
        error: 'OpenAI is inactive',
        checks: JSON.stringify(checks),
        finished_at: new Date(),
      })
      .returning('id');
    let $ = await page(`/platform/ai-management/deployments/${done.id}`);
    expect(
      $('#checks li')
        .map((_i, li) => $(li).attr('data-check'))
        .get(),
    ).toEqual(['model', 'provider']);
    expect($('#checks li[data-check="provider"]').text()).toContain('failed — OpenAI is inactive');
    expect($('#deployment-status').attr('hx-trigger')).toBeUndefined();
    const [running] = await t
      .db('deployments')
      .insert({ feature_id: feature.id, model_id: model.id, environment: 'staging', kind: 'assign', requested_by: 'test' })
      .returning('id');
    $ = await page(`/platform/ai-management/deployments/${running.id}`);
    expect($('#deployment-status').attr('hx-trigger')).toBe('every 2s');
    expect($('#deployment-status noscript').html()).toContain('http-equiv="refresh"');
    await t.db('deployments').where({ id: running.id }).update({ status: 'failed', error: 'test over', finished_at: new Date() });
    await agent.get('/platform/ai-management/deployments/00000000-0000-0000-0000-000000000000').expect(404);
    await agent.get('/platform/ai-management/deployments/not-a-uuid').expect(404);
  });
});
