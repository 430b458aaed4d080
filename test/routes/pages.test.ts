import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, suffix } from '../setup/factories.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { type Agent, signIn } from '../setup/session.ts';

let t: TestContext;
let agent: Agent;
beforeAll(async () => {
  t = startTestApp();
  const user = await makeUser(t.db, 'viewer');
  agent = await signIn(t.app, user.email, user.password);
});
afterAll(() => t.close());

const page = async (path: string) => cheerio.load((await agent.get(path).expect(200).expect('vary', /HX-Request/)).text);

describe('the shell', () => {
  it('when a page is shown, then it has the navigation, the current page marked, the CSRF meta and local scripts only', async () => {
    const $ = await page('/platform/ai-management/models');
    expect($('nav a').map((_i, a) => $(a).text()).get()).toEqual(['Overview', 'Features', 'Models & Providers', 'Audit log', 'API keys']);
    expect($('nav a[aria-current="page"]').text()).toBe('Models & Providers');
    expect($('meta[name="csrf-token"]').attr('content')).toMatch(/^[0-9a-f]{64,}$/);
    const scripts = $('script').map((_i, s) => $(s).attr('src')).get();
    expect(scripts).toEqual(['/static/vendor/htmx.min.js', '/static/js/app.js']);
    expect($('script:not([src])')).toHaveLength(0);
  });
});

describe('GET /platform/ai-management/features', () => {
  it('when a feature has a production model, then its card names it, and a feature without one says "No model assigned"', async () => {
    const name = `feat-${suffix()}`;
    const bare = `feat-${suffix()}`;
    const [feature] = await t.db('ai_features').insert({ name, display_name: `Feature ${name}`, required_model_type: 'llm' }).returning('id');
    await t.db('ai_features').insert({ name: bare, display_name: `Feature ${bare}`, required_model_type: 'llm' });
    const model = await t.db('ai_models').where({ name: 'gpt-4o-mini' }).first('id');
    await t.db('feature_model_assignments').insert({ feature_id: feature.id, model_id: model.id, environment: 'production', assigned_by: 'test' });
    const $ = await page('/platform/ai-management/features');
    const card = $(`.feature-card[data-feature="${name}"]`);
    expect(card.find('strong').first().text()).toBe(`Feature ${name}`);
    expect(card.find('.feature-card-title .muted').text()).toBe('GPT-4o mini');
    expect($(`.feature-card[data-feature="${bare}"] .feature-card-title .muted`).text()).toBe('No model assigned');
  });
});

describe('GET /platform/ai-management/models', () => {
  it('when shown, then every provider and model in the database is listed with its real price and status', async () => {
    const $ = await page('/platform/ai-management/models');
    const providers = await t.db('ai_providers').pluck('name');
    expect($('tr[data-provider]').map((_i, r) => $(r).attr('data-provider')).get().sort()).toEqual(providers.sort());
    expect($('tr[data-provider="simulator"] td').eq(1).text()).toBe('served by Switchboard');
    const sonnet = $('tr[data-model="claude-3-5-sonnet-20241022"] td');
    expect(sonnet.eq(3).text()).toBe('$0.003');
    expect(sonnet.eq(4).text()).toBe('$0.015');
    expect($('tr[data-model="gpt-4-vision-preview"] .badge').text()).toBe('offline');
  });
});

describe('GET /platform/ai-management/audit', () => {
  it('when changes were made, then they are listed newest first with their actor', async () => {
    const user = await makeUser(t.db, 'viewer');
    const $ = await page('/platform/ai-management/audit');
    const row = $(`#audit tbody tr`).filter((_i, r) => $(r).find('code.muted').text() === user.id);
    expect(row.find('code').first().text()).toBe('user.created');
    expect(row.find('td').eq(1).text()).toContain('test');
    const times = $('#audit time').map((_i, e) => $(e).attr('datetime')).get();
    expect([...times].sort().reverse()).toEqual(times);
  });
});

describe('GET /platform/ai-management', () => {
  it('when shown, then every feature has a row with its production model and figures', async () => {
    const $ = await page('/platform/ai-management');
    for (const name of ['photo-tagging', 'chatbot', 'ai-search']) expect($(`#features tr[data-feature="${name}"]`)).toHaveLength(1);
    expect($('.notice')).toHaveLength(0);
  });
});
