import crypto from 'node:crypto';
import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../src/format.ts';
import { runRollup } from '../../src/metrics/rollup.ts';
import { providerSummaries } from '../../src/metrics/summaries.ts';
import type { Providers } from '../../src/providers/index.ts';
import type { Simulator } from '../../src/providers/simulator.ts';
import { between, headlineOf, type Raw, rawRows, uptimeOf } from '../metrics/brute-force.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeUser, suffix } from '../setup/factories.ts';
import { closedPort } from '../setup/fake-provider.ts';
import { catalogueSnapshot, ownSeededDatabase } from '../setup/scratch-db.ts';
import { type Agent, csrfFor, signIn } from '../setup/session.ts';
import { DAY, HOUR, insertUsage, MINUTE, type ModelRef, type UsageEvent } from '../setup/usage-factory.ts';

// Issue 6, the pages: the Providers, Models and Deployments tabs of /platform/ai-management/models
// (plain URLs and htmx), a provider's page and its forms, the add-provider and add-model forms, a
// model's Configure and Deploy pages. The file runs on a database of its own (migrated, reference data
// seeded), so the totals of the Providers tab and "nothing written" can be checked on whole tables.
// Figures are checked against a brute-force computation over the raw ai_usage_logs rows (SPEC §4).

const CATALOGUE = '/platform/ai-management/models';
const PROVIDERS = '/platform/ai-management/providers';
const fmt = createFormat('UTC');
type Row = Record<string, any>;

let t: TestContext;
let dropDatabase: () => Promise<void>;
let admin: Agent;
let viewer: Agent;
let adminCsrf: string;
let viewerCsrf: string;
let sim: Simulator;
let simulatorId: string;

// ---------------------------------------------------------------------------------------------
// The fixture: providers and models of this file's own with a day of traffic.
//   Acme (active, keyed): Zephyr Alpha, Zephyr Beta, Quill (beta), Nimbus (deprecated, no traffic),
//     Orca (offline, traffic only outside the last 24 h); Zephyr Alpha serves a feature in production.
//   Cobalt (active, keyed): one model with slow, partly failing traffic.
//   Bolt (inactive, no key, no traffic).

interface Fixture {
  acme: Row;
  cobalt: Row;
  bolt: Row;
  models: Record<'alpha' | 'beta' | 'quill' | 'nimbus' | 'orca' | 'cobaltLarge', Row>;
  feature: Row;
}
let fx: Fixture;

const newKey = (tail = crypto.randomBytes(2).toString('hex')) => `sk-live-${suffix()}${suffix()}${suffix()}-${tail}`;

async function makeProvider(fields: Row = {}, key?: string): Promise<Row> {
  const id = crypto.randomUUID();
  const name = fields.name ?? `p-${suffix()}`;
  const providers = t.app.locals.providers as Providers;
  const [row] = await t
    .db('ai_providers')
    .insert({
      id,
      name,
      display_name: `Provider ${name}`,
      kind: 'openai-compatible',
      base_url: 'https://api.example.com/v1',
      status: 'inactive',
      ...(key && { api_key_ciphertext: providers.sealKey(key, id), api_key_last4: key.slice(-4) }),
      ...fields,
    })
    .returning('*');
  return row;
}

async function makeModel(providerId: string, fields: Row = {}): Promise<Row> {
  const name = fields.name ?? `m-${suffix()}`;
  const [row] = await t
    .db('ai_models')
    .insert({
      provider_id: providerId,
      name,
      display_name: `Model ${name}`,
      model_type: 'llm',
      status: 'available',
      input_price_per_1k: 0.001,
      output_price_per_1k: 0.002,
      context_window: 8192,
      ...fields,
    })
    .returning('*');
  return row;
}

const refOf = (m: Row, p: Row): ModelRef => ({
  id: m.id,
  name: m.name,
  display_name: m.display_name,
  provider_id: p.id,
  provider_name: p.name,
  in_micro: Math.round(Number(m.input_price_per_1k) * 1e6),
  out_micro: Math.round(Number(m.output_price_per_1k) * 1e6),
});

async function seedFixture(): Promise<Fixture> {
  const acme = await makeProvider({ name: 'acme', display_name: 'Acme AI', status: 'active' }, newKey());
  const cobalt = await makeProvider({ name: 'cobalt', display_name: 'Cobalt Labs', status: 'active' }, newKey());
  const bolt = await makeProvider({ name: 'bolt', display_name: 'Bolt Inference', status: 'inactive' });
  const models = {
    alpha: await makeModel(acme.id, {
      name: 'zephyr-alpha-v2',
      display_name: 'Zephyr Alpha',
      input_price_per_1k: 0.5,
      output_price_per_1k: 1,
    }),
    beta: await makeModel(acme.id, { name: 'zephyr-beta-v1', display_name: 'Zephyr Beta', input_price_per_1k: 2, output_price_per_1k: 4 }),
    quill: await makeModel(acme.id, {
      name: 'acme/ql-7b',
      display_name: 'Quill',
      status: 'beta',
      input_price_per_1k: 0.1,
      output_price_per_1k: 0.2,
    }),
    nimbus: await makeModel(acme.id, {
      name: 'nimbus-embed',
      display_name: 'Nimbus',
      status: 'deprecated',
      model_type: 'embedding',
      input_price_per_1k: 0.3,
      output_price_per_1k: 0,
    }),
    orca: await makeModel(acme.id, {
      name: 'orca-vision',
      display_name: 'Orca',
      status: 'offline',
      model_type: 'vision',
      input_price_per_1k: 1,
      output_price_per_1k: 1,
    }),
    cobaltLarge: await makeModel(cobalt.id, {
      name: 'cobalt-large',
      display_name: 'Cobalt Large',
      input_price_per_1k: 0.25,
      output_price_per_1k: 0.5,
    }),
  };
  const feature = await makeFeature(t.db, { display_name: `Support bot ${suffix()}` });
  await t
    .db('feature_model_assignments')
    .insert({ feature_id: feature.id, model_id: models.alpha.id, environment: 'production', is_active: true, assigned_by: 'test' });

  // Every event in a minute of its own (except where said), well inside the 24 h window.
  const now = Date.now();
  let minute = 5;
  const at = (minutesAgo?: number) => {
    if (minutesAgo === undefined) minute += 7;
    const m = minutesAgo ?? minute;
    return new Date(Math.floor((now - m * MINUTE) / MINUTE) * MINUTE + 20_000);
  };
  const ev = (m: Row, p: Row, extra: Partial<UsageEvent> = {}): UsageEvent => ({
    feature_id: feature.id,
    model: refOf(m, p),
    created_at: at(),
    ...extra,
  });
  const events: UsageEvent[] = [];
  for (let i = 0; i < 6; i++) events.push(ev(models.alpha, acme, { response_time_ms: 300 }));
  for (let i = 0; i < 3; i++) events.push(ev(models.beta, acme, { response_time_ms: 800 }));
  for (let i = 0; i < 8; i++)
    events.push(ev(models.quill, acme, { response_time_ms: 100, status: i === 2 ? 'error' : i === 5 ? 'timeout' : 'success' }));
  // Orca: inside this month but outside the last 24 h (when the month is old enough), and before the month.
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  events.push(ev(models.orca, acme, { created_at: new Date(monthStart - HOUR), input_tokens: 1000, output_tokens: 1000 }));
  if (now - monthStart > 26 * HOUR)
    events.push(ev(models.orca, acme, { created_at: new Date(monthStart + MINUTE), input_tokens: 500, output_tokens: 500 }));
  events.push(ev(models.alpha, acme, { created_at: new Date(now - 2 * DAY - 3 * HOUR), response_time_ms: 9000, status: 'error' }));
  // Cobalt: slow, partly failing; three events share one minute (one of them failed: a bad minute).
  const shared = at(600);
  for (let i = 0; i < 10; i++) {
    events.push(
      ev(models.cobaltLarge, cobalt, {
        response_time_ms: 2000 + i * 400,
        status: i === 1 || i === 4 ? 'error' : i === 7 ? 'timeout' : 'success',
        ...(i < 3 && { created_at: new Date(shared.getTime() + i * 1000) }),
      }),
    );
  }
  await insertUsage(t.db, events);
  return { acme, cobalt, bolt, models, feature };
}

beforeAll(async () => {
  const own = await ownSeededDatabase('catpages');
  dropDatabase = own.drop;
  t = startTestApp({ databaseUrl: own.url }, own.db);
  const [a, v] = [await makeUser(t.db, 'admin'), await makeUser(t.db, 'viewer')];
  admin = await signIn(t.app, a.email, a.password);
  viewer = await signIn(t.app, v.email, v.password);
  adminCsrf = await csrfFor(admin);
  viewerCsrf = await csrfFor(viewer);
  simulatorId = (await t.db('ai_providers').where({ name: 'simulator' }).first('id')).id;
  sim = await (t.app.locals.providers as Providers).simulator();
  fx = await seedFixture();
});
afterAll(async () => {
  await t?.close();
  await dropDatabase?.();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const text = (el: cheerio.Cheerio<any>) => el.text().replace(/\s+/g, ' ').trim();
const url = (params: Record<string, string>) => `${CATALOGUE}?${new URLSearchParams(params)}`;

async function page(path: string, agent = admin) {
  const res = await agent.get(path);
  expect(res.status, `${path}: ${text(cheerio.load(res.text)('#error'))}`).toBe(200);
  return cheerio.load(res.text);
}

/** A fragment for `id`, with the out-of-band elements `oob` after it (each marked hx-swap-oob). */
function fragment(html: string, id: string, oob: string[] = []) {
  expect(html).not.toMatch(/<html|<header class="top"|aria-label="Main"/);
  const $ = cheerio.load(html, null, false);
  expect(
    $.root()
      .children()
      .toArray()
      .map((e) => $(e).attr('id')),
  ).toEqual([id, ...oob]);
  for (const o of oob) expect($(`#${o}`).attr('hx-swap-oob')).toBe('true');
  return $;
}

const cardOrder = ($: cheerio.CheerioAPI) =>
  $('#model-cards li.model-card')
    .toArray()
    .map((li) => $(li).attr('data-model'));
/** A model card's facts by their labels. */
function modelFacts($: cheerio.CheerioAPI, name: string): Record<string, string> {
  const card = $(`#model-cards li.model-card[data-model="${name}"]`);
  expect(card.length, `card of ${name}`).toBe(1);
  return Object.fromEntries(
    card
      .find('dl.facts > div')
      .toArray()
      .map((d) => [text($(d).find('dt')), text($(d).find('dd'))]),
  );
}
function providerFacts($: cheerio.CheerioAPI, name: string): Record<string, string> {
  const card = $(`#provider-cards li.provider-card[data-provider="${name}"]`);
  expect(card.length, `card of ${name}`).toBe(1);
  return Object.fromEntries(
    card
      .find('dl.facts > div')
      .toArray()
      .map((d) => [text($(d).find('dt')), text($(d).find('dd'))]),
  );
}

const monthStartOf = (now: number) => Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);

interface Brute {
  requests: number;
  successRate: number | null;
  meanMs: number | null;
  uptime: number | null;
  cost24h: number;
  monthly: number;
  allTime: number;
  health: number | null;
  latencyScore: number | null;
  capped: boolean;
}

/** The performance score of SPEC §4 from brute-force figures: the mean of reliability, speed and accuracy, each clamped. */
const performance = (b: Brute) => {
  const clamp = (x: number) => Math.min(100, Math.max(0, x));
  return (clamp((b.uptime! / 99) * 100) + clamp(((2000 - b.meanMs!) / 2000) * 100) + clamp(b.successRate!)) / 3;
};

/** SPEC §4 from the raw rows alone: 24 h figures, uptime by minute (5 % threshold), health, monthly spend. */
async function brute(column: 'provider_id' | 'model_id', id: string, now: number): Promise<Brute> {
  const rows = await rawRows(t.db, column, id);
  const day = between(rows, now - DAY, now);
  const h = headlineOf(day);
  const uptime = uptimeOf(rows, now - DAY, now, 5);
  const latencyScore = h.response_time === null ? null : Math.min(100, Math.max(0, ((5000 - h.response_time) / 4500) * 100));
  const cost = (list: Raw[]) => list.reduce((a, r) => a + r.cost, 0) / 1e8;
  let capped = false;
  if (column === 'provider_id') {
    const failed = await t
      .db('health_checks')
      .where({ provider_id: id, status: 'error' })
      .whereIn('kind', ['probe', 'manual'])
      .where('checked_at', '>=', new Date(now - 15 * MINUTE))
      .first('id');
    capped = failed !== undefined;
  }
  const raw = h.success_rate === null ? null : 0.5 * h.success_rate + 0.3 * uptime! + 0.2 * latencyScore!;
  return {
    requests: h.total_requests,
    successRate: h.success_rate,
    meanMs: h.response_time,
    uptime,
    latencyScore,
    capped,
    cost24h: cost(day),
    monthly: cost(rows.filter((r) => r.t >= monthStartOf(now))),
    allTime: cost(rows),
    health: raw === null ? null : capped ? Math.min(50, raw) : raw,
  };
}

const snapshot = () => catalogueSnapshot(t.db);

const postForm = (path: string, body: Row, agent = admin, csrf: string | null = adminCsrf) =>
  agent
    .post(path)
    .type('form')
    .send({ ...(csrf !== null && { _csrf: csrf }), ...body });

// ---------------------------------------------------------------------------------------------

describe('Providers tab', () => {
  it('when providers have traffic, then the stats and each card (status, models, spend, uptime, response, health bar) equal a brute-force computation over the raw rows and the metrics service', async () => {
    const $ = await page(CATALOGUE);
    const now = Date.now();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Providers');

    const providers: Row[] = await t.db('ai_providers').select('*');
    const figures = new Map<string, Brute>();
    for (const p of providers) figures.set(p.id, await brute('provider_id', p.id, now));
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
    expect(stat('models')).toBe(String(Number((await t.db('ai_models').count({ n: '*' }).first())!.n)));
    expect(stat('spend')).toBe(fmt.usd(spend));
    expect(stat('health')).toBe(fmt.decimal(scored.reduce((a, b) => a + b, 0) / scored.length, 0));
    expect(text($('#provider-stats .metric').last().find('.sub'))).toBe('2 providers with traffic in 24 h');

    const service = await providerSummaries(
      t.db,
      providers.map((p) => p.id),
      new Date(now),
    );
    const serving = await t
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
      const models = Number((await t.db('ai_models').where({ provider_id: p.id }).count({ n: '*' }).first())!.n);
      const servingModels = new Set(serving.filter((r) => r.provider_id === p.id).map((r) => r.id)).size;
      expect(text(card.find('.badge')), p.name).toBe(p.status);
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
    // How the score is computed is said on the tab.
    expect(text($('#catalogue-tab > p.muted').first())).toContain('0.5 × success rate + 0.3 × uptime + 0.2 × latency score');
    expect($('#add-provider form[action="/platform/ai-management/providers"]')).toHaveLength(1);
  });

  it('when a provider failed a probe in the last 15 minutes, then its card caps the health score at 50 and says so', async () => {
    const p = await makeProvider({ status: 'active' }, newKey());
    const m = await makeModel(p.id);
    const f = await makeFeature(t.db);
    await insertUsage(t.db, [
      { feature_id: f.id, model: refOf(m, p), response_time_ms: 200, created_at: new Date(Date.now() - 30 * MINUTE) },
    ]);
    let $ = await page(CATALOGUE);
    expect(text($(`li[data-provider="${p.name}"] [data-health]`))).toBe(
      fmt.decimal((await brute('provider_id', p.id, Date.now())).health, 0),
    );
    expect(Number(text($(`li[data-provider="${p.name}"] [data-health]`)))).toBeGreaterThan(90);
    await t.db('health_checks').insert({
      provider_id: p.id,
      kind: 'probe',
      status: 'error',
      latency_ms: 3,
      error: 'the provider answered 503',
      checked_at: new Date(Date.now() - 5 * MINUTE),
    });
    $ = await page(CATALOGUE);
    expect(text($(`li[data-provider="${p.name}"] [data-health]`))).toBe('50');
    expect(text($(`li[data-provider="${p.name}"] .warning`))).toBe('probe failed: capped at 50');
    // Put back out of the way of the other tests' totals.
    await t.db('health_checks').where({ provider_id: p.id }).del();
    await t.db('ai_providers').where({ id: p.id }).update({ status: 'inactive' });
  });

  it('when a viewer looks, then the cards are shown without the add-provider form', async () => {
    const $ = await page(CATALOGUE, viewer);
    expect($('#provider-cards li.provider-card[data-provider="acme"]')).toHaveLength(1);
    expect($('#add-provider, main form[method="post"]')).toHaveLength(0);
  });
});

describe('Models tab', () => {
  it('when shown, then each card has provider, status, type, where it serves, success, latency, requests, total cost and price from the raw rows', async () => {
    const $ = await page(url({ tab: 'models' }));
    const now = Date.now();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Models');
    const all: Row[] = await t.db('ai_models').select('*');
    expect($('#model-cards li.model-card')).toHaveLength(all.length);
    expect(text($('#model-count[role="status"]'))).toBe(
      `${all.length} of ${all.length} models · figures over the last 24 hours, all features`,
    );
    for (const m of Object.values(fx.models)) {
      const b = await brute('model_id', m.id, now);
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
    const $ = await page(url({ tab: 'models', q }));
    expect(cardOrder($).sort()).toEqual(expected);
    expect($('form.filters input[name="q"]').val()).toBe(q.trim());
    expect(text($('#model-count[role="status"]'))).toContain(`matching “${q.trim()}”`);
  });

  it('when filtered by provider, by status and by both with a search, then exactly the matching models, whatever the order of the checks', async () => {
    const all: Row[] = await t
      .db('ai_models as m')
      .join('ai_providers as p', 'p.id', 'm.provider_id')
      .select('m.name', 'm.status', 'm.display_name', 'p.name as provider');
    const names = (rows: Row[]) => rows.map((r) => r.name).sort();
    let $ = await page(url({ tab: 'models', provider: 'acme' }));
    expect(cardOrder($).sort()).toEqual(names(all.filter((r) => r.provider === 'acme')));
    expect(cardOrder($)).toHaveLength(5);
    expect($('form.filters select[name="provider"] option[selected]').val()).toBe('acme');
    $ = await page(url({ tab: 'models', status: 'beta' }));
    expect(cardOrder($).sort()).toEqual(names(all.filter((r) => r.status === 'beta')));
    expect(cardOrder($).length).toBeGreaterThan(1);
    $ = await page(url({ tab: 'models', provider: 'acme', status: 'beta' }));
    expect(cardOrder($)).toEqual(['acme/ql-7b']);
    $ = await page(url({ tab: 'models', provider: 'acme', status: 'available', q: 'zephyr', sort: 'usage' }));
    expect(cardOrder($)).toEqual(['zephyr-alpha-v2', 'zephyr-beta-v1']);
    expect($('form.filters select[name="sort"] option[selected]').val()).toBe('usage');
    expect($('form.filters select[name="status"] option[selected]').val()).toBe('available');
    // Blank fields (what the form sends) mean "any".
    $ = await page(`${CATALOGUE}?tab=models&q=&provider=&status=&sort=`);
    expect(cardOrder($)).toHaveLength(all.length);
  });

  it('when sorted by name, performance, cost and usage, then the order follows SPEC from the seeded usage (no-data last for performance)', async () => {
    const now = Date.now();
    const acmeModels: Row[] = await t.db('ai_models').where({ provider_id: fx.acme.id }).select('*');
    const figures = new Map<string, Brute>();
    for (const m of acmeModels) figures.set(m.name, await brute('model_id', m.id, now));
    const order = async (sort: string) => cardOrder(await page(url({ tab: 'models', provider: 'acme', sort })));

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
    const whole = cardOrder(await page(url({ tab: 'models', sort: 'performance' })));
    const everything: Row[] = await t.db('ai_models').select('id', 'name');
    const all = new Map<string, Brute>();
    for (const m of everything) all.set(m.name, await brute('model_id', m.id, now));
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
    const res = await admin.get(url(params as Record<string, string>)).expect(400);
    expect(text(cheerio.load(res.text)('#error p').first())).toBe(message);
  });

  it('when nothing matches, then the empty message with a link back to all models', async () => {
    const $ = await page(url({ tab: 'models', q: 'no-such-model-anywhere' }));
    expect($('#model-cards')).toHaveLength(0);
    expect(text($('#model-results p.empty'))).toBe('No model matches these filters. Show all models');
    expect($('#model-results p.empty a').attr('href')).toBe(`${CATALOGUE}?tab=models`);
    const total = Number((await t.db('ai_models').count({ n: '*' }).first())!.n);
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
      const plain = await page(url(params));
      for (const target of ['div#model-results', 'model-results']) {
        const res = await admin.get(url(params)).set({ 'HX-Request': 'true', 'HX-Target': target }).expect(200);
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
    const $ = await page(url({ tab: 'models' }));
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
    ).toEqual(['', ...(await t.db('ai_providers').orderBy('display_name').pluck('name'))]);
  });

  it('when htmx switches tabs (HX-Target #catalogue-tab), then only the tab section comes back', async () => {
    for (const tab of ['providers', 'models', 'deployments']) {
      const res = await admin.get(url({ tab })).set({ 'HX-Request': 'true', 'HX-Target': 'section#catalogue-tab' }).expect(200);
      expect(res.headers.vary).toMatch(/HX-Request/);
      const $ = fragment(res.text, 'catalogue-tab');
      expect(text($('nav.tabs a[aria-current="page"]'))).toBe(tab[0].toUpperCase() + tab.slice(1));
      expect(
        $('nav.tabs a')
          .toArray()
          .map((a) => $(a).attr('hx-target')),
      ).toEqual(['#catalogue-tab', '#catalogue-tab', '#catalogue-tab']);
    }
    const plain = await admin.get(url({ tab: 'models' })).expect(200);
    expect(plain.text).toMatch(/<html/);
    // A bad value asked by htmx: the error goes to the page's error area, not in place of the cards.
    const bad = await admin
      .get(url({ tab: 'models', sort: 'popular' }))
      .set({ 'HX-Request': 'true', 'HX-Target': 'div#model-results' })
      .expect(400);
    expect(bad.headers['hx-retarget']).toBe('#errors');
    expect(bad.text).not.toMatch(/<html/);
    expect(text(cheerio.load(bad.text)('#error p').first())).toBe('sort must be one of name, performance, cost, usage');
  });
});

describe('Deployments tab', () => {
  let dfA: Row;
  let dfB: Row;
  beforeAll(async () => {
    dfA = await makeFeature(t.db, { display_name: `Deploy A ${suffix()}` });
    dfB = await makeFeature(t.db, { display_name: `Deploy B ${suffix()}` });
    const [assignment] = await t
      .db('feature_model_assignments')
      .insert({
        feature_id: dfA.id,
        model_id: fx.models.beta.id,
        environment: 'development',
        is_active: false,
        assigned_by: 'test',
        deactivated_at: new Date(),
      })
      .returning('id');
    const envs = ['development', 'staging', 'production'];
    const statuses = ['success', 'failed', 'rolled_back', 'failed'];
    const base = Date.now() - 10 * DAY;
    const rows = [];
    for (let i = 0; i < 34; i++) {
      const status = statuses[i % 4];
      rows.push({
        feature_id: i % 5 === 0 ? dfB.id : dfA.id,
        model_id: fx.models.beta.id,
        environment: envs[i % 3],
        kind: 'assign',
        status,
        requested_by: 'seed',
        assignment_id: status === 'success' ? assignment.id : null,
        started_at: new Date(base + i * HOUR),
        finished_at: new Date(base + i * HOUR + MINUTE),
        error: status === 'failed' ? 'smoke request failed' : null,
      });
    }
    await t.db('deployments').insert(rows);
  });

  /** The deployments the page should list, newest first, by brute force from the table. */
  async function expected(filter: { feature?: Row; environment?: string; status?: string; model?: string } = {}): Promise<string[]> {
    const q = t.db('deployments').orderBy('started_at', 'desc').orderBy('id');
    if (filter.model) q.where('model_id', filter.model);
    if (filter.feature) q.where('feature_id', filter.feature.id);
    if (filter.environment) q.where('environment', filter.environment);
    if (filter.status) q.where('status', filter.status);
    return q.pluck('id');
  }
  const listed = ($: cheerio.CheerioAPI) =>
    $('#deployments tbody tr')
      .toArray()
      .map((tr) => ($(tr).find('a').attr('href') ?? '').split('/').pop());

  it('when filtered by model (the model page links there), then only its deployments, the model named with a way back; the API filters the same; a bad id is a 400', async () => {
    const [{ model_id: modelId }] = await t.db('deployments').groupBy('model_id').orderByRaw('count(*) desc').select('model_id');
    const ids = await expected({ model: modelId });
    expect(ids.length).toBeGreaterThan(1);
    const $ = await page(url({ tab: 'deployments', model: modelId }));
    expect(listed($)).toEqual(ids.slice(0, 25));
    const name = (await t.db('ai_models').where({ id: modelId }).first('display_name')).display_name;
    expect(text($('.filter-note strong'))).toBe(name);
    expect($('.filter-note a').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    expect($('form.filters input[name="model"]').val()).toBe(modelId);
    const api = await admin.get(`/api/platform/ai-management/deployments?model=${modelId}&limit=200`).expect(200);
    expect(api.body.data.map((d: Row) => d.id)).toEqual(ids);
    const bad = await admin.get(url({ tab: 'deployments', model: 'not-a-uuid' })).expect(400);
    expect(text(cheerio.load(bad.text)('#error p').first())).toBe('model must be the id of a model');
    await admin.get('/api/platform/ai-management/deployments?model=nope').expect(400);
  });

  it('when there are more than 25 deployments, then 25 a page newest first, a link to page 2 and back, and a page beyond the last is empty', async () => {
    const all = await expected();
    expect(all.length).toBeGreaterThan(25);
    const pages = Math.ceil(all.length / 25);
    const $1 = await page(url({ tab: 'deployments' }));
    expect(listed($1)).toEqual(all.slice(0, 25));
    expect(text($1('#deployment-count[role="status"]'))).toBe(`${all.length} deployments · page 1 of ${pages}`);
    expect($1('nav.pager a[rel="next"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments&page=2`);
    expect($1('nav.pager a[rel="prev"]')).toHaveLength(0);
    const $2 = await page(`${CATALOGUE}?tab=deployments&page=2`);
    expect(listed($2)).toEqual(all.slice(25, 50));
    expect($2('nav.pager a[rel="prev"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    const $far = await page(`${CATALOGUE}?tab=deployments&page=${pages + 3}`);
    expect(listed($far)).toEqual([]);
    expect($far('nav.pager a[rel="next"]')).toHaveLength(0);
    expect(text($far('#deployment-results p.empty'))).toBe(`Page ${pages + 3} is past the last page. Go to the first page`);
    expect($far('#deployment-results p.empty a').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    expect(text($far('#deployment-count[role="status"]'))).toBe(`${all.length} deployments`);
  });

  it('when filtered by feature, environment and status (alone and together), then exactly the matching deployments, and the pager keeps the filters', async () => {
    const cases = [
      [{ feature: dfB }, { feature: dfB.name }],
      [{ environment: 'staging' }, { environment: 'staging' }],
      [{ status: 'failed' }, { status: 'failed' }],
      [
        { feature: dfA, environment: 'production', status: 'success' },
        { feature: dfA.name, environment: 'production', status: 'success' },
      ],
    ] as const;
    for (const [filter, params] of cases) {
      const ids = await expected(filter);
      expect(ids.length, JSON.stringify(params)).toBeGreaterThan(0);
      const $ = await page(url({ tab: 'deployments', ...params }));
      expect(listed($), JSON.stringify(params)).toEqual(ids.slice(0, 25));
      for (const [k, v] of Object.entries(params)) expect($(`form.filters select[name="${k}"] option[selected]`).val()).toBe(v);
    }
    // Feature A alone has more than a page: the pager keeps the filter, and page 2 lists the rest.
    const ofA = await expected({ feature: dfA });
    expect(ofA.length).toBeGreaterThan(25);
    const $ = await page(url({ tab: 'deployments', feature: dfA.name }));
    expect($('nav.pager a[rel="next"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments&feature=${dfA.name}&page=2`);
    expect(listed(await page(`${CATALOGUE}?tab=deployments&feature=${dfA.name}&page=2`))).toEqual(ofA.slice(25));
    const $failed = await page(url({ tab: 'deployments', status: 'failed' }));
    expect(
      $failed('#deployments tbody tr .badge')
        .toArray()
        .map((b) => text($failed(b))),
    ).toEqual((await expected({ status: 'failed' })).map(() => 'failed'));
    // Nothing matches: the message, not an empty table.
    const none = await page(url({ tab: 'deployments', feature: dfB.name, status: 'in_progress' }));
    expect(text(none('#deployment-results p.empty'))).toBe('No deployment matches these filters. Show all deployments');
  });

  it('when htmx asks for #deployment-results, then only that fragment, with the same rows as the plain URL', async () => {
    const params = { tab: 'deployments', environment: 'development', page: '1' };
    const plain = await page(url(params));
    const res = await admin.get(url(params)).set({ 'HX-Request': 'true', 'HX-Target': 'div#deployment-results' }).expect(200);
    expect(res.headers.vary).toMatch(/HX-Target/);
    const $ = fragment(res.text, 'deployment-results', ['deployment-count']);
    expect(listed($)).toEqual(listed(plain));
    expect(listed($).length).toBeGreaterThan(0);
  });
});

describe('format=csv (SPEC §5: every table answers with its data)', () => {
  const csv = async (path: string) => {
    const res = await admin.get(path).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?[\w.-]+\.csv"?$/);
    const lines = res.text
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(','));
    return { header: lines[0], rows: lines.slice(1) };
  };

  it('when a tab is downloaded, then it holds what the tab shows: every provider, the filtered models in their order, the whole filtered history; the links say where', async () => {
    const providers = await csv(`${CATALOGUE}?format=csv`);
    expect(providers.header.slice(0, 4)).toEqual(['name', 'display_name', 'kind', 'status']);
    const $p = await page(CATALOGUE);
    expect(providers.rows.map((r) => r[0]).sort()).toEqual(
      $p('li.provider-card')
        .toArray()
        .map((li) => $p(li).attr('data-provider'))
        .sort(),
    );
    expect($p('a[download]').attr('href')).toBe(`${CATALOGUE}?format=csv`);

    const params = { tab: 'models', provider: 'acme', sort: 'usage' };
    const models = await csv(url({ ...params, format: 'csv' }));
    const $m = await page(url(params));
    expect(models.rows.map((r) => r[1])).toEqual(cardOrder($m));
    expect($m('#model-results a[download]').attr('href')).toBe(url({ ...params, format: 'csv' }));

    const ids = (status?: string) =>
      t
        .db('deployments')
        .where(status ? { status } : {})
        .orderBy('started_at', 'desc')
        .orderBy('id')
        .pluck('id');
    const all = await ids();
    expect(all.length).toBeGreaterThan(25); // more than a page: the download is not just the page
    const history = await csv(url({ tab: 'deployments', page: '2', format: 'csv' }));
    expect(history.header).toEqual([
      'id',
      'started_at',
      'finished_at',
      'feature',
      'environment',
      'model',
      'kind',
      'status',
      'requested_by',
      'error',
    ]);
    expect(history.rows.map((r) => r[0])).toEqual(all);
    expect((await csv(url({ tab: 'deployments', status: 'success', format: 'csv' }))).rows.map((r) => r[0])).toEqual(await ids('success'));
    await admin.get(url({ tab: 'models', format: 'pdf' })).expect(400);
  });

  it('when the provider page is downloaded, then its hour-by-hour table comes as CSV, 25 rows oldest first', async () => {
    const { header, rows } = await csv(`${PROVIDERS}/acme?format=csv`);
    expect(header).toEqual([
      'hour_start_utc',
      'requests',
      'success_rate_pct',
      'uptime_pct',
      'response_time_ms',
      'latency_score',
      'health_score',
    ]);
    expect(rows).toHaveLength(25);
    const starts = rows.map((r) => Date.parse(r[0]));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    const requests = rows.reduce((n, r) => n + Number(r[1]), 0);
    const { n } = (await t
      .db('ai_usage_logs')
      .where({ provider_id: fx.acme.id })
      .where('created_at', '>=', new Date(Date.now() - DAY + 60_000))
      .count({ n: '*' })
      .first())!;
    expect(Math.abs(requests - Number(n))).toBeLessThanOrEqual(1); // the window moved by the time of two requests at most
    await admin.get(`${PROVIDERS}/acme?format=xml`).expect(400);
  });
});

describe('provider page', () => {
  it('when the provider has traffic and checks, then its figures, the formula line, the hour-by-hour rows and the probes equal the raw rows', async () => {
    const p = await makeProvider({ status: 'active' }, newKey());
    const m = await makeModel(p.id, { input_price_per_1k: 1, output_price_per_1k: 2 });
    const f = await makeFeature(t.db);
    const now0 = Date.now();
    const hourStart = (hoursAgo: number) => Math.floor(now0 / HOUR) * HOUR - hoursAgo * HOUR;
    const events: UsageEvent[] = [];
    // Three full hours with traffic: 2 h ago all good, 5 h ago with errors in one minute, 9 h ago slow.
    for (let i = 0; i < 6; i++)
      events.push({
        feature_id: f.id,
        model: refOf(m, p),
        response_time_ms: 400,
        created_at: new Date(hourStart(2) + i * 5 * MINUTE + 1000),
      });
    for (let i = 0; i < 4; i++)
      events.push({
        feature_id: f.id,
        model: refOf(m, p),
        response_time_ms: 1200,
        status: i < 2 ? 'error' : 'success',
        created_at: new Date(hourStart(5) + 10 * MINUTE + i * 1000),
      });
    for (let i = 0; i < 3; i++)
      events.push({
        feature_id: f.id,
        model: refOf(m, p),
        response_time_ms: 4000 + i * 500,
        created_at: new Date(hourStart(9) + i * 7 * MINUTE),
      });
    await insertUsage(t.db, events);
    await t.db('health_checks').insert([
      { provider_id: p.id, kind: 'probe', status: 'ok', latency_ms: 41, checked_at: new Date(now0 - 50 * MINUTE) },
      {
        provider_id: p.id,
        kind: 'manual',
        status: 'error',
        latency_ms: 7,
        error: 'the provider answered 503',
        checked_at: new Date(now0 - 40 * MINUTE),
      },
      { provider_id: p.id, model_id: m.id, kind: 'smoke', status: 'ok', latency_ms: 120, checked_at: new Date(now0 - 30 * MINUTE) },
    ]);

    const $ = await page(`${PROVIDERS}/${p.name}`);
    const b = await brute('provider_id', p.id, Date.now());
    expect(b.requests).toBe(13);
    expect(b.capped).toBe(false);
    const metric = (name: string) => text($(`#provider-health [data-metric="${name}"]`));
    expect(metric('health')).toBe(fmt.decimal(b.health, 1));
    expect(metric('success')).toBe(fmt.percent(b.successRate, 2));
    expect(metric('uptime')).toBe(fmt.percent(b.uptime, 2));
    expect(metric('latency')).toBe(fmt.ms(b.meanMs));
    expect(metric('requests')).toBe('13');
    expect(metric('spend')).toBe(fmt.usd(b.monthly));
    expect(text($('#score-explained [data-formula]'))).toBe(
      `0.5 × ${fmt.decimal(b.successRate, 2)} + 0.3 × ${fmt.decimal(b.uptime, 2)} + 0.2 × ${fmt.decimal(b.latencyScore, 1)} = ${fmt.decimal(b.health, 1)}.`,
    );
    expect(text($('#score-explained'))).toContain('A failed probe or connection test in the last 15 minutes caps the score at 50');

    // Hour by hour: newest first, 25 rows (the first clipped at the window start); each row's inputs from its own raw rows.
    const rows = $('#health-history tbody tr').toArray();
    expect(rows).toHaveLength(25);
    const starts = rows.map((tr) => Date.parse($(tr).find('time').attr('datetime')!));
    expect(starts).toEqual([...starts].sort((x, y) => y - x));
    const { rows: raw } = await t.db.raw('SELECT created_at, status, response_time_ms FROM ai_usage_logs WHERE provider_id = ?', [p.id]);
    for (const hoursAgo of [2, 5, 9, 3]) {
      const from = hourStart(hoursAgo);
      const tr = rows[starts.indexOf(from)];
      expect(tr, `row for ${new Date(from).toISOString()}`).toBeDefined();
      const cells = $(tr)
        .children()
        .toArray()
        .map((c) => text($(c)));
      const inHour = raw.filter((r: Row) => r.created_at.getTime() >= from && r.created_at.getTime() < from + HOUR);
      const n = inHour.length;
      if (n === 0) {
        expect(cells.slice(1)).toEqual(['0', 'no data', 'no data', 'no data', 'no data', 'no data']);
        continue;
      }
      const ok = inHour.filter((r: Row) => r.status === 'success').length;
      const mean = inHour.reduce((a: number, r: Row) => a + r.response_time_ms, 0) / n;
      const perMinute = new Map<number, [number, number]>();
      for (const r of inHour) {
        const k = Math.floor(r.created_at.getTime() / MINUTE);
        const [total, failed] = perMinute.get(k) ?? [0, 0];
        perMinute.set(k, [total + 1, failed + (r.status === 'success' ? 0 : 1)]);
      }
      const bad = [...perMinute.values()].filter(([total, failed]) => failed * 100 >= 5 * total).length;
      const uptime = ((60 - bad) / 60) * 100;
      const ls = Math.min(100, Math.max(0, ((5000 - mean) / 4500) * 100));
      expect(cells.slice(1), `hour ${hoursAgo} h ago`).toEqual([
        String(n),
        fmt.percent((ok / n) * 100, 2),
        fmt.percent(uptime, 1),
        fmt.ms(mean),
        fmt.decimal(ls, 0),
        fmt.decimal(0.5 * (ok / n) * 100 + 0.3 * uptime + 0.2 * ls, 1),
      ]);
    }
    // The probes and checks, newest first.
    expect(
      $('#checks tbody tr')
        .toArray()
        .map((tr) =>
          $(tr)
            .children()
            .toArray()
            .map((c) => text($(c)))
            .slice(1),
        ),
    ).toEqual([
      [`smoke request · ${m.display_name}`, 'ok', '120 ms', ''],
      ['connection test', 'error', '7 ms', 'the provider answered 503'],
      ['probe', 'ok', '41 ms', ''],
    ]);
    // Its models with their figures.
    expect(text($(`#provider-models tr[data-model="${m.name}"] td`).eq(2))).toBe('13');
    expect($('#provider-models tbody tr')).toHaveLength(1);
    // Folded into the rollups, the hours read the same (whole hours from the per-minute arrays).
    const table = (page$: cheerio.CheerioAPI) =>
      page$('#health-history tbody tr')
        .toArray()
        .map((tr) => text(page$(tr)));
    await runRollup({ db: t.db });
    const rolled = cheerio.load((await admin.get(`${PROVIDERS}/${p.name}`).expect(200)).text);
    expect(table(rolled).slice(1)).toEqual(table($).slice(1)); // the newest (partial) hour moves on with the clock
  });

  it('when a connection test failed less than 15 minutes ago, then the formula says the score is capped at 50', async () => {
    const p = await makeProvider({ status: 'active' }, newKey());
    const m = await makeModel(p.id);
    const f = await makeFeature(t.db);
    await insertUsage(t.db, [
      { feature_id: f.id, model: refOf(m, p), response_time_ms: 200, created_at: new Date(Date.now() - 20 * MINUTE) },
    ]);
    await t.db('health_checks').insert({
      provider_id: p.id,
      kind: 'manual',
      status: 'error',
      latency_ms: 3,
      error: 'refused',
      checked_at: new Date(Date.now() - 2 * MINUTE),
    });
    const $ = await page(`${PROVIDERS}/${p.name}`);
    expect(text($('[data-metric="health"]'))).toBe('50.0');
    expect(text($('[data-formula]'))).toMatch(/= \d+\.\d, capped at 50 because a probe failed in the last 15 minutes\.$/);
    await t.db('ai_providers').where({ id: p.id }).update({ status: 'inactive' });
    await t.db('health_checks').where({ provider_id: p.id }).del();
  });

  it('when the provider has no traffic, then "no data" and no formula with made-up numbers', async () => {
    const $ = await page(`${PROVIDERS}/bolt`);
    expect(text($('[data-metric="health"]'))).toBe('no data');
    expect($('[data-formula]')).toHaveLength(0);
    expect(text($('#score-explained'))).toContain('No traffic in the last 24 hours');
  });

  it('when a viewer looks, then the same figures without any form or button; an unknown provider is 404', async () => {
    const $ = await page(`${PROVIDERS}/acme`, viewer);
    expect(text($('h1'))).toContain('Acme AI');
    expect($('#provider-health [data-metric="requests"]').text()).toBe('17');
    expect($('main form, main button, main input, main select')).toHaveLength(0);
    expect($('#edit-provider')).toHaveLength(0);
    await admin.get(`${PROVIDERS}/no-such-provider`).expect(404);
  });

  it('when an admin looks, then Test connection, Deactivate and the edit form are plain POST forms with the CSRF field; the key field is empty', async () => {
    const $ = await page(`${PROVIDERS}/acme`);
    const forms = $('main form[method="post"]')
      .toArray()
      .map((f) => [$(f).attr('action'), $(f).find('input[name="_csrf"]').val()]);
    expect(forms).toEqual([
      [`${PROVIDERS}/acme/test`, adminCsrf],
      [`${PROVIDERS}/acme/status`, adminCsrf],
      [`${PROVIDERS}/acme`, adminCsrf],
    ]);
    expect($(`form[action="${PROVIDERS}/acme/status"] input[name="status"]`).val()).toBe('inactive');
    expect(text($(`form[action="${PROVIDERS}/acme/status"] button`))).toBe('Deactivate');
    expect($('#edit-api_key').attr('type')).toBe('password');
    expect($('#edit-api_key').val()).toBe('');
    expect($('#edit-base_url').val()).toBe('https://api.example.com/v1');
    expect(text($('[data-key-hint]'))).toBe(`••••${fx.acme.api_key_last4}`);
  });
});

describe('provider forms without JavaScript', () => {
  it('when the display name is edited, then 303 to the provider page with a flash, stored and audited', async () => {
    const p = await makeProvider();
    const res = await postForm(`${PROVIDERS}/${p.name}`, { display_name: 'Renamed provider', base_url: p.base_url, api_key: '' }).expect(
      303,
    );
    expect(res.headers.location).toBe(`${PROVIDERS}/${p.name}`);
    const $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe('Saved Renamed provider.');
    expect(text($('h1'))).toContain('Renamed provider');
    expect((await t.db('ai_providers').where({ id: p.id }).first()).display_name).toBe('Renamed provider');
    expect(await t.db('audit_log').where({ entity_id: p.id }).pluck('action')).toEqual(['provider.updated']);
    expect((await page(res.headers.location))('.flash')).toHaveLength(0); // shown once
  });

  it('when an active keyed provider is deactivated and activated again, then 303 with a flash each time and the status stored', async () => {
    const p = await makeProvider({ status: 'active' }, newKey());
    let res = await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${p.name}`);
    let $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${p.display_name} is now inactive.`);
    expect(text($(`form[action$="/status"] button`))).toBe('Activate');
    expect((await t.db('ai_providers').where({ id: p.id }).first()).status).toBe('inactive');
    res = await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'active' }).expect(303);
    $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${p.display_name} is now active.`);
    expect((await t.db('ai_providers').where({ id: p.id }).first()).status).toBe('active');
    expect(await t.db('audit_log').where({ entity_id: p.id }).orderBy('id').pluck('action')).toEqual([
      'provider.deactivated',
      'provider.activated',
    ]);
  });

  it('when an inactive provider without a key is activated, then 422 inline on the page and nothing is written', async () => {
    const before = await snapshot();
    const res = await postForm(`${PROVIDERS}/bolt/status`, { status: 'active' }).expect(422);
    const $ = cheerio.load(res.text);
    // Said at the top, next to the button that was pressed.
    expect(text($('#status-error[role="alert"]'))).toBe('Status cannot be active without an API key');
    expect(text($('h1'))).toContain('Bolt Inference');
    expect(await snapshot()).toEqual(before);
  });

  it('when a provider whose models serve a feature is deactivated, or given a new base URL, then a warning names the feature and asks to confirm; confirmed, it is done', async () => {
    const p = await makeProvider({ status: 'active' }, newKey('c0nf'));
    const m = await makeModel(p.id);
    const feature = await makeFeature(t.db, { display_name: `Served ${suffix()}` });
    await t
      .db('feature_model_assignments')
      .insert({ feature_id: feature.id, model_id: m.id, environment: 'production', assigned_by: 'test' });
    const before = await snapshot();
    const refused = await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(409);
    const $ = cheerio.load(refused.text);
    expect(text($('#status-warning p'))).toContain(`${feature.display_name} (production)`);
    const confirmForm = $('#status-warning form');
    expect(confirmForm.attr('action')).toBe(`${PROVIDERS}/${p.name}/status`);
    expect(confirmForm.find('input[name="confirm"]').val()).toBe('yes');
    const edit = await postForm(`${PROVIDERS}/${p.name}`, {
      display_name: p.display_name,
      base_url: 'https://elsewhere.example/v1',
      api_key: newKey('n3w1'),
    }).expect(409);
    const $edit = cheerio.load(edit.text);
    expect(text($edit('#edit-warning'))).toContain(`${feature.display_name} (production)`);
    expect($edit('#edit-provider input[name="confirm"][type="checkbox"]')).toHaveLength(1);
    expect($edit('#edit-provider input[name="api_key"]').val()).toBe('');
    expect(await snapshot()).toEqual(before);
    await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive', confirm: 'yes' }).expect(303);
    expect((await t.db('ai_providers').where({ id: p.id }).first()).status).toBe('inactive');
  });

  it('when the key of an active provider is removed through the form, then 422 on the key field and the key stays; deactivated first, the key can be removed', async () => {
    const p = await makeProvider({ status: 'active' }, newKey('r3m0'));
    const before = await snapshot();
    const res = await postForm(`${PROVIDERS}/${p.name}`, {
      display_name: p.display_name,
      base_url: p.base_url,
      api_key: '',
      remove_key: 'on',
    }).expect(422);
    // Reported on the key (what this change touches), with what to do.
    expect(text(cheerio.load(res.text)('#edit-provider .field-error'))).toBe(
      'API key cannot be removed while the provider is active: deactivate it first',
    );
    expect(await snapshot()).toEqual(before);
    await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }).expect(303);
    const ok = await postForm(`${PROVIDERS}/${p.name}`, {
      display_name: p.display_name,
      base_url: p.base_url,
      api_key: '',
      remove_key: 'on',
    }).expect(303);
    const $ = await page(ok.headers.location);
    expect(text($('.flash-success'))).toBe(`Saved ${p.display_name}.`);
    expect(text($('[data-key-hint]'))).toBe('none');
    expect(await t.db('ai_providers').where({ id: p.id }).first('api_key_last4', 'api_key_ciphertext')).toEqual({
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
      const p = await makeProvider({}, newKey());
      const key = newKey();
      const before = await snapshot();
      const res = await postForm(`${PROVIDERS}/${p.name}`, { display_name: p.display_name, base_url: baseUrl, api_key: key }).expect(422);
      const $ = cheerio.load(res.text);
      expect(text($('#edit-base_url-error'))).toBe(`Base URL ${message}`);
      expect($('#edit-base_url').attr('aria-invalid')).toBe('true');
      expect($('#edit-base_url').val()).toBe(baseUrl);
      expect($('#edit-api_key').val()).toBe('');
      expect(res.text).not.toContain(key);
      expect(res.text).not.toContain(key.slice(0, -4));
      expect(await snapshot()).toEqual(before);
    },
  );

  it('when a keyed provider gets a new base URL without the key again, then 422 on the key field and nothing is written; with the key it is saved', async () => {
    const oldKey = newKey();
    const p = await makeProvider({}, oldKey);
    const before = await snapshot();
    const res = await postForm(`${PROVIDERS}/${p.name}`, {
      display_name: p.display_name,
      base_url: 'https://api.other.example/v1',
      api_key: '',
    }).expect(422);
    expect(text(cheerio.load(res.text)('#edit-api_key-error'))).toBe('API key is required again when the base URL changes');
    expect(await snapshot()).toEqual(before);
    const key = newKey('n3w4');
    const ok = await postForm(`${PROVIDERS}/${p.name}`, {
      display_name: p.display_name,
      base_url: 'https://api.other.example/v1',
      api_key: key,
    }).expect(303);
    const $ = await page(ok.headers.location);
    expect(text($('.flash-success'))).toBe(`Saved ${p.display_name}. Key on file ends in n3w4.`);
    expect(await t.db('ai_providers').where({ id: p.id }).first('base_url', 'api_key_last4')).toEqual({
      base_url: 'https://api.other.example/v1',
      api_key_last4: 'n3w4',
    });
  });

  it('when Test connection is pressed, then the probe goes through the adapter: 303 with the result as a flash, stored, and listed first among the checks', async () => {
    let res = await postForm(`${PROVIDERS}/simulator/test`, {}).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/simulator`);
    let $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toMatch(/^Connection to Simulator works: GET \/models answered in \d+ ms\.$/);
    const last = await t.db('health_checks').where({ provider_id: simulatorId }).orderBy('id', 'desc').first();
    expect(last).toMatchObject({ kind: 'manual', status: 'ok', error: null });
    expect(
      $('#checks tbody tr')
        .first()
        .children()
        .toArray()
        .map((c) => text($(c)))
        .slice(1, 3),
    ).toEqual(['connection test', 'ok']);

    const down = await makeProvider({ base_url: `http://127.0.0.1:${await closedPort()}/v1` });
    res = await postForm(`${PROVIDERS}/${down.name}/test`, {}).expect(303);
    $ = await page(res.headers.location);
    const flash = text($('.flash-error'));
    expect(flash).toMatch(new RegExp(`^Connection to ${down.display_name} failed: .+\\.$`));
    const stored = await t.db('health_checks').where({ provider_id: down.id });
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
    const p = await makeProvider({ status: 'active' }, newKey());
    const before = await snapshot();
    await postForm(`${PROVIDERS}/${p.name}`, { display_name: 'No token' }, admin, null).expect(403);
    await postForm(`${PROVIDERS}/${p.name}/status`, { status: 'inactive' }, admin, null).expect(403);
    await postForm(`${PROVIDERS}/${p.name}/test`, {}, admin, null).expect(403);
    await postForm(`${PROVIDERS}/${p.name}`, { display_name: 'Wrong token' }, admin, 'not-the-token').expect(403);
    expect(await snapshot()).toEqual(before);
  });

  it('when a viewer posts (with a valid CSRF token), then 403 "Only admins can make changes" and nothing is written', async () => {
    const p = await makeProvider({ status: 'active' }, newKey());
    const before = await snapshot();
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
      const res = await postForm(path, body, viewer, viewerCsrf);
      expect(res.status, path).toBe(403);
      expect(text(cheerio.load(res.text)('#error p').first())).toBe('Only admins can make changes');
    }
    expect(await snapshot()).toEqual(before);
    await viewer.get(`${CATALOGUE}/${fx.models.beta.id}/edit`).expect(403);
    await viewer.get(`${CATALOGUE}/${fx.models.beta.id}/deploy`).expect(403);
  });
});

describe('provider keys are shown only as their last 4 characters', () => {
  it('when a key is saved through the forms, then no page (provider, catalogue tabs, audit, overview, refusals) holds it — only •••• and its last 4', async () => {
    const port = await closedPort();
    const first = newKey('q1w2');
    const name = `keyed-${suffix()}`;
    const texts: string[] = [];
    // Added through the add-provider form, with a key.
    const created = await postForm(PROVIDERS, {
      name,
      display_name: 'Keyed provider',
      kind: 'openai-compatible',
      base_url: `http://127.0.0.1:${port}/v1`,
      api_key: first,
      status: 'inactive',
    });
    expect(created.status, text(cheerio.load(created.text)('.field-error'))).toBe(303);
    expect(created.headers.location).toBe(`${PROVIDERS}/${name}`);
    texts.push(created.text);
    let $ = await page(created.headers.location);
    texts.push($.html());
    expect(text($('.flash-success'))).toBe('Provider “Keyed provider” added (inactive until you activate it).');
    expect(text($('[data-key-hint]'))).toBe('••••q1w2');
    // Replaced through the edit form.
    const second = newKey('z9x8');
    const saved = await postForm(`${PROVIDERS}/${name}`, {
      display_name: 'Keyed provider',
      base_url: `http://127.0.0.1:${port}/v1`,
      api_key: second,
    }).expect(303);
    texts.push(saved.text);
    $ = await page(saved.headers.location);
    texts.push($.html());
    expect(text($('.flash-success'))).toBe('Saved Keyed provider. Key on file ends in z9x8.');
    expect(text($('[data-key-hint]'))).toBe('••••z9x8');
    expect(text($('label[for="edit-api_key"] .muted'))).toBe('(leave blank to keep the key ending in z9x8)');
    // Activated, then a refused edit that carried the first key again.
    await postForm(`${PROVIDERS}/${name}/status`, { status: 'active' }).expect(303);
    const refused = await postForm(`${PROVIDERS}/${name}`, {
      display_name: 'Keyed provider',
      base_url: 'http://169.254.169.254/',
      api_key: first,
    }).expect(422);
    texts.push(refused.text);
    // A refused add-provider form with a key.
    const third = newKey('t3t3');
    const refusedAdd = await postForm(PROVIDERS, {
      name: `bad-${suffix()}`,
      display_name: 'Bad',
      kind: 'openai-compatible',
      base_url: 'http://169.254.169.254/',
      api_key: third,
    }).expect(422);
    texts.push(refusedAdd.text);
    for (const path of [
      `${PROVIDERS}/${name}`,
      CATALOGUE,
      url({ tab: 'models' }),
      url({ tab: 'deployments' }),
      '/platform/ai-management/audit',
      '/platform/ai-management/audit?entity=provider',
      '/platform/ai-management',
    ]) {
      texts.push((await page(path)).html());
      texts.push((await page(path, viewer)).html());
    }
    const audit = await page('/platform/ai-management/audit?entity=provider');
    expect(audit('#audit').text()).toContain('••••z9x8');
    expect(audit('#audit').text()).toContain('••••q1w2');

    for (const key of [first, second, third]) {
      for (const body of texts) {
        expect(body).not.toContain(key);
        expect(body).not.toContain(key.slice(0, -4));
      }
    }
    const row = await t.db('ai_providers').where({ name }).first();
    expect(row.api_key_last4).toBe('z9x8');
    expect(row.status).toBe('active');
    await t.db('ai_providers').where({ name }).update({ status: 'inactive' });
  });
});

describe('add provider / add model forms', () => {
  it('when a provider is added, then 303 to its page with a flash; its card is on the Providers tab', async () => {
    const name = `added-${suffix()}`;
    const res = await postForm(PROVIDERS, {
      name,
      display_name: 'Added simulator',
      kind: 'simulator',
      base_url: '',
      api_key: '',
      status: 'active',
    }).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${name}`);
    const $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe('Provider “Added simulator” added and active.');
    expect(await t.db('ai_providers').where({ name }).first('kind', 'status', 'base_url')).toEqual({
      kind: 'simulator',
      status: 'active',
      base_url: null,
    });
    expect((await page(CATALOGUE))(`li.provider-card[data-provider="${name}"]`)).toHaveLength(1);
    await t.db('ai_providers').where({ name }).update({ status: 'inactive' });
  });

  it('when the add-provider form is invalid, then 422 with the errors inline in the open form, the values kept, and nothing written', async () => {
    const before = await snapshot();
    const res = await postForm(PROVIDERS, {
      name: 'Not A Slug',
      display_name: '',
      kind: 'openai-compatible',
      base_url: 'http://169.254.169.254/',
      status: 'active',
    }).expect(422);
    const $ = cheerio.load(res.text);
    expect($('#add-provider').attr('open')).toBeDefined();
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Providers');
    expect(text($('#provider-name-error'))).toMatch(/^Slug must be lowercase letters/);
    expect(text($('#provider-display_name-error'))).toBe('Display name is required');
    expect(text($('#provider-base_url-error'))).toBe('Base URL must not point to a link-local or cloud metadata address');
    expect($('#provider-name').val()).toBe('Not A Slug');
    expect(await snapshot()).toEqual(before);
    // Active without a key: refused on status.
    const noKey = await postForm(PROVIDERS, {
      name: `nokey-${suffix()}`,
      display_name: 'No key',
      kind: 'openai-compatible',
      base_url: 'https://api.example.org/v1',
      status: 'active',
    }).expect(422);
    expect(text(cheerio.load(noKey.text)('#provider-status-error'))).toBe('Status cannot be active without an API key');
    expect(await snapshot()).toEqual(before);
  });

  it('when the slug is taken, then 409 with the error on the slug and nothing written', async () => {
    const before = await snapshot();
    const res = await postForm(PROVIDERS, { name: 'acme', display_name: 'Acme again', kind: 'simulator' }).expect(409);
    const $ = cheerio.load(res.text);
    expect(text($('#provider-name-error'))).toBe('Slug is already taken');
    expect($('#add-provider').attr('open')).toBeDefined();
    expect(await snapshot()).toEqual(before);
  });

  it('when a model is added, then 303 to its page with a flash, stored, and its card on the Models tab', async () => {
    const name = `new-model-${suffix()}`;
    const res = await postForm(CATALOGUE, {
      provider: 'cobalt',
      name,
      display_name: 'Cobalt Tiny',
      model_type: 'llm',
      status: 'beta',
      input_price_per_1k: '0.0004',
      output_price_per_1k: '0.0016',
      context_window: '32000',
    }).expect(303);
    const model = await t.db('ai_models').where({ name }).first();
    expect(model).toMatchObject({
      provider_id: fx.cobalt.id,
      display_name: 'Cobalt Tiny',
      model_type: 'llm',
      status: 'beta',
      context_window: 32000,
    });
    expect(Number(model.input_price_per_1k)).toBe(0.0004);
    expect(res.headers.location).toBe(`${CATALOGUE}/${model.id}`);
    const $ = await page(url({ tab: 'models', q: name }));
    expect(text($('.flash-success'))).toBe('Model “Cobalt Tiny” added to Cobalt Labs.');
    expect(cardOrder($)).toEqual([name]);
    expect(modelFacts($, name)['Price / 1k']).toBe('$0.0004 in · $0.0016 out');
  });

  it('when the add-model form is invalid, then 422 inline on the Models tab with the values kept; a taken model id is 409; nothing is written', async () => {
    const before = await snapshot();
    const res = await postForm(CATALOGUE, {
      provider: 'cobalt',
      name: 'has spaces',
      display_name: '',
      model_type: 'llm',
      input_price_per_1k: '-1',
      output_price_per_1k: 'cheap',
    }).expect(422);
    const $ = cheerio.load(res.text);
    expect($('#catalogue-tab nav.tabs a[aria-current="page"]').text()).toBe('Models');
    expect($('#add-model').attr('open')).toBeDefined();
    expect(text($('#model-name-error'))).toBe('Model id must be the provider’s model id, without spaces');
    expect(text($('#model-display_name-error'))).toBe('Display name is required');
    expect(text($('#model-input_price_per_1k-error'))).toBe('Input price must be 0 or more');
    expect(text($('#model-output_price_per_1k-error'))).toBe('Output price must be a price in USD per 1k tokens');
    expect($('#model-name').val()).toBe('has spaces');
    expect($('#model-provider option[selected]').val()).toBe('cobalt');
    const unknown = await postForm(CATALOGUE, {
      provider: 'nope',
      name: 'x',
      display_name: 'X',
      model_type: 'llm',
      input_price_per_1k: '0',
      output_price_per_1k: '0',
    }).expect(422);
    expect(text(cheerio.load(unknown.text)('#model-provider-error'))).toBe('Provider is not a provider on record');
    const dup = await postForm(CATALOGUE, {
      provider: 'acme',
      name: 'zephyr-alpha-v2',
      display_name: 'Again',
      model_type: 'llm',
      input_price_per_1k: '0',
      output_price_per_1k: '0',
    }).expect(409);
    expect(text(cheerio.load(dup.text)('#model-name-error'))).toBe('Model id is already taken for this provider');
    expect(await snapshot()).toEqual(before);
    // The same model id under another provider is fine.
    await postForm(CATALOGUE, {
      provider: 'bolt',
      name: 'zephyr-alpha-v2',
      display_name: 'Bolt Zephyr',
      model_type: 'llm',
      input_price_per_1k: '0',
      output_price_per_1k: '0',
    }).expect(303);
  });

  it('when the CSRF field is missing, then 403 and nothing is written', async () => {
    const before = await snapshot();
    await postForm(PROVIDERS, { name: `nocsrf-${suffix()}`, display_name: 'No CSRF', kind: 'simulator' }, admin, null).expect(403);
    await postForm(
      CATALOGUE,
      {
        provider: 'acme',
        name: `nocsrf-${suffix()}`,
        display_name: 'No CSRF',
        model_type: 'llm',
        input_price_per_1k: '0',
        output_price_per_1k: '0',
      },
      admin,
      null,
    ).expect(403);
    expect(await snapshot()).toEqual(before);
  });
});

describe('model Configure page', () => {
  it("when the edit page is shown, then the form holds the model's values and posts to itself with the CSRF field", async () => {
    const m = fx.models.quill;
    const $ = await page(`${CATALOGUE}/${m.id}/edit`);
    const form = $(`form[action="${CATALOGUE}/${m.id}/edit"]`);
    expect(form.attr('method')).toBe('post');
    expect(form.find('input[name="_csrf"]').val()).toBe(adminCsrf);
    expect($('#model-display_name').val()).toBe('Quill');
    expect($('#model-status option[selected]').val()).toBe('beta');
    expect(Number($('#model-input_price_per_1k').val())).toBe(0.1);
    expect($('#model-context_window').val()).toBe('8192');
    expect($('input[name="confirm"]')).toHaveLength(0);
  });

  it('when display name, prices and context window are changed, then 303 to the model page, stored and audited', async () => {
    const m = await makeModel(fx.bolt.id);
    const res = await postForm(`${CATALOGUE}/${m.id}/edit`, {
      display_name: 'Reconfigured',
      status: 'beta',
      input_price_per_1k: '0.7',
      output_price_per_1k: '1.4',
      context_window: '64000',
    }).expect(303);
    expect(res.headers.location).toBe(`${CATALOGUE}/${m.id}`);
    const row = await t.db('ai_models').where({ id: m.id }).first();
    expect([row.display_name, row.status, Number(row.input_price_per_1k), Number(row.output_price_per_1k), row.context_window]).toEqual([
      'Reconfigured',
      'beta',
      0.7,
      1.4,
      64000,
    ]);
    expect(await t.db('audit_log').where({ entity_id: m.id }).pluck('action')).toEqual(['model.updated']);
    const $ = await page(url({ tab: 'models', q: m.name }));
    expect(text($('.flash-success'))).toBe('Saved Reconfigured.');
  });

  it('when a model serving production is deprecated, then 409 with a warning naming the feature and a confirm box, nothing changed; confirmed, 303 and deprecated', async () => {
    const m = await makeModel(simulatorId, { display_name: `Serving ${suffix()}` });
    const f = await makeFeature(t.db, { display_name: `Production feature ${suffix()}` });
    const other = await makeFeature(t.db, { display_name: `Staging feature ${suffix()}` });
    await t.db('feature_model_assignments').insert([
      { feature_id: f.id, model_id: m.id, environment: 'production', is_active: true, assigned_by: 'test' },
      { feature_id: other.id, model_id: m.id, environment: 'staging', is_active: true, assigned_by: 'test' },
    ]);
    const before = await snapshot();
    const form = {
      display_name: m.display_name,
      status: 'deprecated',
      input_price_per_1k: '0.001',
      output_price_per_1k: '0.002',
      context_window: '',
    };
    const res = await postForm(`${CATALOGUE}/${m.id}/edit`, form).expect(409);
    const $ = cheerio.load(res.text);
    const warning = text($('#status-warning'));
    expect(warning).toContain(`${f.display_name} (production)`);
    expect(warning).not.toContain(other.display_name); // deprecated models may still serve staging
    expect($('input[type="checkbox"][name="confirm"]')).toHaveLength(1);
    expect($('#model-status option[selected]').val()).toBe('deprecated');
    expect(await snapshot()).toEqual(before);

    const confirmed = await postForm(`${CATALOGUE}/${m.id}/edit`, { ...form, confirm: 'yes' }).expect(303);
    expect(confirmed.headers.location).toBe(`${CATALOGUE}/${m.id}`);
    expect((await t.db('ai_models').where({ id: m.id }).first()).status).toBe('deprecated');
    const $after = await page(url({ tab: 'models', q: m.name }));
    expect(text($after('.flash-error'))).toContain(`${f.display_name} (production)`);
    expect(text($after(`li[data-model="${m.name}"] .badge`))).toBe('deprecated');

    // Taking it offline warns about every environment it serves.
    const off = await postForm(`${CATALOGUE}/${m.id}/edit`, { ...form, status: 'offline' }).expect(409);
    const offWarning = text(cheerio.load(off.text)('#status-warning'));
    expect(offWarning).toContain(`${f.display_name} (production)`);
    expect(offWarning).toContain(`${other.display_name} (staging)`);
    expect((await t.db('ai_models').where({ id: m.id }).first()).status).toBe('deprecated');
  });

  it('when the edit is invalid, then 422 inline and nothing is written; an unknown model is 404', async () => {
    const m = fx.models.beta;
    const before = await snapshot();
    const res = await postForm(`${CATALOGUE}/${m.id}/edit`, {
      display_name: 'Zephyr Beta',
      status: 'retired',
      input_price_per_1k: '-3',
      output_price_per_1k: '4',
      context_window: '0',
    }).expect(422);
    const $ = cheerio.load(res.text);
    expect(text($('#model-status-error'))).toBe('Status must be one of available, beta, deprecated, offline');
    expect(text($('#model-input_price_per_1k-error'))).toBe('Input price must be 0 or more');
    expect(text($('#model-context_window-error'))).toBe('Context window must be at least 1');
    expect(await snapshot()).toEqual(before);
    await admin.get(`${CATALOGUE}/${crypto.randomUUID()}/edit`).expect(404);
  });
});

describe('model Deploy page', () => {
  it("when shown, then only features needing the model's type are offered, the others named as not offered", async () => {
    const m = await makeModel(simulatorId, { model_type: 'embedding', display_name: `Embedder ${suffix()}` });
    const $ = await page(`${CATALOGUE}/${m.id}/deploy`);
    const features: Row[] = await t.db('ai_features').select('name', 'display_name', 'required_model_type');
    expect(
      $('#deploy-feature option')
        .toArray()
        .map((o) => $(o).val())
        .sort(),
    ).toEqual(
      features
        .filter((f) => f.required_model_type === 'embedding')
        .map((f) => f.name)
        .sort(),
    );
    expect(
      $('#deploy-feature option')
        .toArray()
        .map((o) => $(o).val()),
    ).toContain('ai-search');
    expect(
      $('#deploy-environment option')
        .toArray()
        .map((o) => $(o).val()),
    ).toEqual(['development', 'staging', 'production']);
    const notOffered = text($('p.muted').last());
    expect(notOffered).toContain('Chatbot (needs llm)');
    expect(notOffered).toContain('Photo Tagging (needs vision)');
    expect($(`form[action="${CATALOGUE}/${m.id}/deploy"] input[name="_csrf"]`).val()).toBe(adminCsrf);
  });

  it('when deployed through the simulator, then every check passes: 303 to the deployment page and the model serves the feature there', async () => {
    const m = await makeModel(simulatorId, { display_name: `Deployable ${suffix()}` });
    const f = await makeFeature(t.db);
    const res = await postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: f.name, environment: 'staging' });
    expect(res.status, text(cheerio.load(res.text)('#deployment-result'))).toBe(303);
    const deployment = await t.db('deployments').where({ feature_id: f.id }).first();
    expect(res.headers.location).toBe(`/platform/ai-management/deployments/${deployment.id}`);
    expect(deployment).toMatchObject({ status: 'success', model_id: m.id, environment: 'staging', kind: 'assign' });
    expect((deployment.checks as Row[]).map((c) => [c.name, c.ok])).toEqual([
      ['model', true],
      ['provider', true],
      ['smoke', true],
    ]);
    expect(
      await t.db('feature_model_assignments').where({ feature_id: f.id, environment: 'staging', is_active: true }).pluck('model_id'),
    ).toEqual([m.id]);
    const $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${m.display_name} now serves ${f.display_name} in staging: every check passed.`);
  });

  it.each([
    [
      'the model is offline',
      { status: 'offline' },
      {},
      [['model', false]],
      (m: Row) => `${m.display_name} is offline and cannot be assigned`,
    ],
    [
      'its smoke request fails',
      {},
      { errorRate: 1 },
      [
        ['model', true],
        ['provider', true],
        ['smoke', false],
      ],
      () => 'smoke request failed: the provider answered 503',
    ],
  ] as const)(
    'when %s, then 422 with the checks listed and the feature left as it was',
    async (_why, fields, behaviour, checks, detail) => {
      const served = await makeModel(simulatorId);
      const m = await makeModel(simulatorId, { display_name: `Refused ${suffix()}`, ...fields });
      sim.configure(m.name, behaviour);
      const f = await makeFeature(t.db);
      await postForm(`${CATALOGUE}/${served.id}/deploy`, { feature: f.name, environment: 'production' }).expect(303);
      const res = await postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: f.name, environment: 'production' }).expect(422);
      const $ = cheerio.load(res.text);
      expect(text($('#deployment-result h3'))).toBe('The deployment was refused; nothing was changed');
      expect(
        $('#deployment-result ol.checks li')
          .toArray()
          .map((li) => [$(li).find('strong').text(), $(li).hasClass('tone-good')]),
      ).toEqual(checks);
      expect(text($('#deployment-result ol.checks li').last())).toContain(detail(m));
      expect($('#deploy-feature option[selected]').val()).toBe(f.name);
      expect(
        await t.db('feature_model_assignments').where({ feature_id: f.id, environment: 'production', is_active: true }).pluck('model_id'),
      ).toEqual([served.id]);
      const last = await t.db('deployments').where({ feature_id: f.id }).orderBy('started_at', 'desc').first();
      expect(last).toMatchObject({ status: 'failed', model_id: m.id });
      expect($('#deployment-result > p a').attr('href')).toBe(`/platform/ai-management/deployments/${last.id}`);
    },
  );

  it('when no feature or an unknown environment is given, then 422 saying so and nothing is deployed', async () => {
    const m = await makeModel(simulatorId);
    const before = await snapshot();
    let res = await postForm(`${CATALOGUE}/${m.id}/deploy`, { environment: 'staging' }).expect(422);
    expect(text(cheerio.load(res.text)('#deployment-result > p'))).toBe('Choose a feature to deploy to.');
    res = await postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: fx.feature.name, environment: 'qa' }).expect(422);
    expect(text(cheerio.load(res.text)('#deployment-result > p'))).toBe(
      'Nothing was deployed: environment must be one of development, staging, production',
    );
    expect(await snapshot()).toEqual(before);
  });
});
