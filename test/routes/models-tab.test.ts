import { randomUUID } from 'node:crypto';
import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../src/format.ts';
import type { Providers } from '../../src/providers/index.ts';
import { encryptSecret } from '../../src/providers/secrets.ts';
import type { Simulator } from '../../src/providers/simulator.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeToken, makeUser, suffix } from '../setup/factories.ts';
import { type Agent, csrfFor, signIn } from '../setup/session.ts';
import { insertUsage, MINUTE, type ModelRef } from '../setup/usage-factory.ts';

// The Models tab as a browser without JavaScript and as htmx use it: its forms (change, promote,
// rollback) through the deployment pipeline, what the tab shows, and the runtime config API that
// carries the choice into the product. The database is shared with other files: every test deploys
// to features and simulator models of its own, and configures only its own model names.

const PATH = '/platform/ai-management/features';
const FLASH = 'Deployed to staging: every check passed and the new model serves it now.';
const fmt = createFormat('UTC');
type Env = 'development' | 'staging' | 'production';
type Row = Record<string, any>;

let t: TestContext;
let admin: Agent;
let viewer: Agent;
let adminCsrf: string;
let simulatorId: string;
let sim: Simulator;
beforeAll(async () => {
  t = startTestApp();
  const [a, v] = [await makeUser(t.db, 'admin'), await makeUser(t.db, 'viewer')];
  admin = await signIn(t.app, a.email, a.password);
  viewer = await signIn(t.app, v.email, v.password);
  adminCsrf = await csrfFor(admin);
  simulatorId = (await t.db('ai_providers').where({ name: 'simulator' }).first('id')).id;
  sim = await (t.app.locals.providers as Providers).simulator();
});
afterAll(() => t.close());

/** A model row of the test's own under the simulator (or the provider given). */
async function makeModel(fields: Row = {}): Promise<Row> {
  const name = `mt-${suffix()}`;
  const [row] = await t
    .db('ai_models')
    .insert({
      provider_id: simulatorId,
      name,
      display_name: `Model ${name}`,
      model_type: 'llm',
      status: 'available',
      input_price_per_1k: 0,
      output_price_per_1k: 0,
      ...fields,
    })
    .returning('*');
  return row;
}

const tabUrl = (slug: string, environment: Env) => `${PATH}?${new URLSearchParams({ feature: slug, tab: 'models', environment })}`;
const hx = { 'HX-Request': 'true', 'HX-Target': 'section#feature-panel' };
const text = (el: cheerio.Cheerio<any>) => el.text().replace(/\s+/g, ' ').trim();
const post = (slug: string, action: 'models' | 'promote' | 'rollback', body: Row, agent = admin) =>
  agent
    .post(`${PATH}/${slug}/${action}`)
    .type('form')
    .send({ _csrf: adminCsrf, ...body });
const change = (slug: string, model: Row, environment: Env = 'staging') => post(slug, 'models', { model_id: model.id, environment });
/** A change that must succeed: 303 to the environment's Models tab. */
async function changed(slug: string, model: Row, environment: Env = 'staging') {
  const res = await change(slug, model, environment);
  expect(res.status, text(cheerio.load(res.text)('#deployment-result, #error'))).toBe(303);
  expect(res.headers.location).toBe(tabUrl(slug, environment));
  return res;
}
const tab = async (slug: string, environment: Env, agent = admin) =>
  cheerio.load((await agent.get(tabUrl(slug, environment)).expect(200)).text);

const activeIds = async (featureId: string, environment: Env) =>
  (await t.db('feature_model_assignments').where({ feature_id: featureId, environment, is_active: true }).select('model_id')).map(
    (r) => r.model_id,
  );
const deploymentsOf = (featureId: string): Promise<Row[]> => t.db('deployments').where({ feature_id: featureId }).orderBy('started_at');
const historyOf = (featureId: string, environment: Env): Promise<Row[]> =>
  t.db('feature_model_assignments').where({ feature_id: featureId, environment }).orderBy('assigned_at');
const checksOf = (d: Row) => (d.checks as { name: string; ok: boolean }[]).map((c) => [c.name, c.ok]);
const ALL_PASSED = [
  ['model', true],
  ['provider', true],
  ['smoke', true],
];
/** The checks #deployment-result lists: name, passed, detail. */
const listedChecks = ($: cheerio.CheerioAPI) =>
  $('#deployment-result ol.checks li')
    .toArray()
    .map((li) => [$(li).find('strong').text(), $(li).hasClass('tone-good'), text($(li)).replace(/^\w+: /, '')]);

/** An htmx fragment: no shell, the panel alone. */
function panelFragment(html: string) {
  expect(html).not.toMatch(/<html|<header class="top"/);
  const $ = cheerio.load(html, null, false);
  expect(
    $.root()
      .children()
      .toArray()
      .map((e) => $(e).attr('id')),
  ).toEqual(['feature-panel']);
  return $;
}

describe('POST /platform/ai-management/features/:slug/models (the change form, without JavaScript)', () => {
  it('when an admin changes the staging model, then 303 to the staging Models tab, a flash once, the new current model, one active assignment and a successful deployment', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(), await makeModel()];
    await changed(f.name, first);
    await changed(f.name, second);

    const $ = await tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(second.display_name);
    expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');
    expect(text($('#environments tr[data-environment="staging"] td').first())).toBe(second.display_name);
    expect($(`#candidates tr[data-model="${second.name}"]`).hasClass('current')).toBe(true);
    expect((await tab(f.name, 'staging'))('.flash')).toHaveLength(0); // shown once

    expect(await activeIds(f.id, 'staging')).toEqual([second.id]);
    const [, last] = await deploymentsOf(f.id);
    const active = await t.db('feature_model_assignments').where({ feature_id: f.id, environment: 'staging', is_active: true }).first();
    expect(last).toMatchObject({
      kind: 'assign',
      status: 'success',
      model_id: second.id,
      previous_model_id: first.id,
      environment: 'staging',
      assignment_id: active.id,
      error: null,
    });
    expect(last.requested_by).toMatch(/^admin-.*@example\.test$/);
    expect(checksOf(last)).toEqual(ALL_PASSED);
  });

  it('when the _csrf field is missing, then 403 and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel();
    await admin.post(`${PATH}/${f.name}/models`).type('form').send({ model_id: model.id, environment: 'staging' }).expect(403);
    expect(await deploymentsOf(f.id)).toEqual([]);
    expect(await historyOf(f.id, 'staging')).toEqual([]);
  });

  it('when a viewer posts, then 403, nothing is written, and the tab shows the tables without any control', async () => {
    const f = await makeFeature(t.db);
    const [served, other] = [await makeModel(), await makeModel()];
    await changed(f.name, served);
    await changed(f.name, other);
    const before = await deploymentsOf(f.id);
    const res = await post(f.name, 'models', { model_id: served.id, environment: 'staging', _csrf: await csrfFor(viewer) }, viewer).expect(
      403,
    );
    expect(text(cheerio.load(res.text)('#error p').first())).toBe('Only admins can make changes');
    expect(await deploymentsOf(f.id)).toEqual(before);
    expect(await activeIds(f.id, 'staging')).toEqual([other.id]);

    const $ = await tab(f.name, 'staging', viewer);
    expect($('#models-tab form, #models-tab input, #models-tab button, #deploy-progress')).toHaveLength(0);
    expect(text($('#current-model strong'))).toBe(other.display_name);
    expect($(`#candidates tr[data-model="${served.name}"] th`).text()).toContain(served.display_name);
    expect($('#candidates thead th').first().text()).toBe('Model');
    expect($('#environments tr[data-environment]')).toHaveLength(3);
    expect(
      $('#assignment-history tbody tr')
        .toArray()
        .map((tr) => text($(tr).children().first())),
    ).toEqual([other.display_name, served.display_name]);
    expect(text($('#models-tab p.muted').last())).toBe('Only admins can change models.');
  });

  it('when the tab is shown to an admin, then each form posts (and hx-posts) to its action, swaps #feature-panel and shows #deploy-progress while it runs', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(), await makeModel()];
    await changed(f.name, first);
    await changed(f.name, second);
    const $ = await tab(f.name, 'staging');
    const forms = $('#models-tab form')
      .toArray()
      .map((el) => {
        const form = $(el);
        return [
          form.attr('action'),
          form.attr('hx-post'),
          form.attr('hx-target'),
          form.attr('hx-swap'),
          form.attr('hx-indicator'),
          form.find('input[name="_csrf"]').val(),
        ];
      });
    const base = `${PATH}/${f.name}`;
    const htmx = ['#feature-panel', 'outerHTML', '#deploy-progress', adminCsrf];
    expect(forms).toEqual([
      [`${base}/promote`, `${base}/promote`, ...htmx],
      [`${base}/models`, `${base}/models`, ...htmx],
      [`${base}/rollback`, `${base}/rollback`, ...htmx],
    ]);
    expect($('#deploy-progress').hasClass('htmx-indicator')).toBe(true);
    expect($('form[action$="/promote"] input[name="from"]').val()).toBe('staging');
    expect(text($('form[action$="/promote"] button'))).toBe('Promote to production');
    expect($('#change-model input[name="environment"]').val()).toBe('staging');
    expect(text($('#change-model button[type="submit"]'))).toBe('Deploy to staging');
    const [firstAssignment] = await historyOf(f.id, 'staging');
    expect(
      $('#assignment-history form input[name="assignment_id"]')
        .toArray()
        .map((i) => $(i).val()),
    ).toEqual([firstAssignment.id]);
    // Production is the end of the line: nothing to promote to.
    await changed(f.name, first, 'production');
    expect((await tab(f.name, 'production'))('form[action$="/promote"]')).toHaveLength(0);
  });
});

describe('POST /platform/ai-management/features/:slug/models refusals', () => {
  it.each([
    [
      'its smoke request fails (errorRate 1)',
      { errorRate: 1 },
      {},
      [
        ['model', true],
        ['provider', true],
        ['smoke', false],
      ],
      () => 'smoke request failed: the provider answered 503',
    ],
    ['it is offline', {}, { status: 'offline' }, [['model', false]], (m: Row) => `${m.display_name} is offline and cannot be assigned`],
    [
      'it is an embedding model for an llm feature',
      {},
      { model_type: 'embedding' },
      [['model', false]],
      (m: Row) => `Test feature needs a model of type llm; ${m.display_name} is of type embedding`,
    ],
  ] as const)(
    'when the model is refused because %s, then 422 with #deployment-result naming the failed check, and the old assignment serves on',
    async (_why, behaviour, fields, checks, detail) => {
      const f = await makeFeature(t.db);
      const [served, refused] = [await makeModel(), await makeModel(fields)];
      sim.configure(refused.name, behaviour);
      await changed(f.name, served);
      const res = await change(f.name, refused).expect(422);
      const $ = cheerio.load(res.text);
      expect(text($('#deployment-result h3'))).toBe('The deployment was refused; nothing was changed');
      expect(listedChecks($).map(([name, ok]) => [name, ok])).toEqual(checks);
      expect(listedChecks($).at(-1)![2]).toBe(detail(refused));
      expect(text($('#current-model strong'))).toBe(served.display_name);
      expect($('#feature-panel').attr('data-feature')).toBe(f.name);
      expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');

      expect(await activeIds(f.id, 'staging')).toEqual([served.id]);
      expect((await historyOf(f.id, 'staging')).length).toBe(1);
      const last = (await deploymentsOf(f.id)).at(-1)!;
      // The refusal says why and links to the stored deployment.
      expect(text($('#deployment-result > p'))).toBe(`${detail(refused)} · the deployment`);
      expect($('#deployment-result > p a').attr('href')).toBe(`/platform/ai-management/deployments/${last.id}`);
      expect(last).toMatchObject({
        status: 'failed',
        model_id: refused.id,
        previous_model_id: served.id,
        assignment_id: null,
        error: detail(refused),
      });
      expect(checksOf(last)).toEqual(checks);
    },
  );

  it('when two changes of the same environment race, then one lands (303) and the other is refused with 409 on the tab, its checks passed', async () => {
    const f = await makeFeature(t.db);
    const [a, b] = [await makeModel(), await makeModel()];
    // Both read "nothing serves staging" before either smoke request answers.
    for (const m of [a, b]) sim.configure(m.name, { latencyMs: 300 });
    const [ra, rb] = await Promise.all([change(f.name, a), change(f.name, b)]);
    const [won, lost] = ra.status === 303 ? [a, rb] : [b, ra];
    expect([ra.status, rb.status].sort()).toEqual([303, 409]);
    const $ = cheerio.load(lost.text);
    expect(text($('#deployment-result > p'))).toMatch(
      /^Another change to staging landed while this deployment ran; nothing was changed\. Try again\./,
    );
    expect(listedChecks($).map(([name, ok]) => [name, ok])).toEqual(ALL_PASSED);
    expect(await activeIds(f.id, 'staging')).toEqual([won.id]);
    expect((await deploymentsOf(f.id)).map((d) => d.status).sort()).toEqual(['failed', 'success']);
  });

  it('when no model is chosen, then 422 saying so on the tab, and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const res = await post(f.name, 'models', { environment: 'staging' }).expect(422);
    const $ = cheerio.load(res.text);
    expect(text($('#deployment-result > p'))).toBe('Choose a model first.');
    expect($('#deployment-result li')).toHaveLength(0);
    expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');
    expect(text($('#current-model'))).toBe('No model assigned in staging.');
    expect(await deploymentsOf(f.id)).toEqual([]);
    expect(await historyOf(f.id, 'staging')).toEqual([]);
  });

  it('when the feature does not exist, then 404 and nothing is written', async () => {
    const model = await makeModel();
    await post(`nope-${suffix()}`, 'models', { model_id: model.id, environment: 'staging' }).expect(404);
    expect(await t.db('deployments').where({ model_id: model.id })).toEqual([]);
  });
});

describe('POST /platform/ai-management/features/:slug/promote', () => {
  it('when development and staging have models, then promoting development makes staging serve its model, as a promote deployment', async () => {
    const f = await makeFeature(t.db);
    const [dev, stage] = [await makeModel(), await makeModel()];
    await changed(f.name, dev, 'development');
    await changed(f.name, stage, 'staging');
    const res = await post(f.name, 'promote', { from: 'development' }).expect(303);
    expect(res.headers.location).toBe(tabUrl(f.name, 'staging'));
    const $ = await tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(dev.display_name);

    expect(await activeIds(f.id, 'staging')).toEqual([dev.id]);
    expect(await activeIds(f.id, 'development')).toEqual([dev.id]);
    const last = (await deploymentsOf(f.id)).at(-1)!;
    expect(last).toMatchObject({
      kind: 'promote',
      status: 'success',
      environment: 'staging',
      model_id: dev.id,
      previous_model_id: stage.id,
    });
    expect(checksOf(last)).toEqual(ALL_PASSED);
    expect(await t.db('audit_log').where({ entity_id: f.id, action: 'deployment.promoted' }).select('id')).toHaveLength(1);
  });

  it.each([
    ['production', 'Promotion goes from development to staging or from staging to production'],
    ['development', 'Nothing serves development, so there is nothing to promote'],
    ['', 'Promotion goes from development to staging or from staging to production'],
  ])(
    'when promoting from "%s" (which has nowhere to go or nothing to send), then 422 "%s" and nothing is written',
    async (from, message) => {
      const f = await makeFeature(t.db);
      const model = await makeModel();
      await changed(f.name, model, 'production');
      const before = await deploymentsOf(f.id);
      const res = await post(f.name, 'promote', { from }).expect(422);
      expect(text(cheerio.load(res.text)('#deployment-result p').first())).toBe(message);
      expect(await deploymentsOf(f.id)).toEqual(before);
      expect(await activeIds(f.id, 'staging')).toEqual([]);
    },
  );
});

describe('POST /platform/ai-management/features/:slug/rollback', () => {
  it('when staging changed twice, then rolling back to the first assignment makes its model serve again, as a rollback deployment', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(), await makeModel()];
    await changed(f.name, first);
    await changed(f.name, second);
    const [earlier] = await historyOf(f.id, 'staging');
    const res = await post(f.name, 'rollback', { assignment_id: earlier.id }).expect(303);
    expect(res.headers.location).toBe(tabUrl(f.name, 'staging'));
    const $ = await tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(first.display_name);
    expect(
      $('#assignment-history tbody tr')
        .toArray()
        .map((tr) => text($(tr).children().first())),
    ).toEqual([first, second, first].map((m) => m.display_name));

    expect(await activeIds(f.id, 'staging')).toEqual([first.id]);
    const history = await historyOf(f.id, 'staging');
    expect(history.map((h) => [h.model_id, h.is_active])).toEqual([
      [first.id, false],
      [second.id, false],
      [first.id, true],
    ]);
    const last = (await deploymentsOf(f.id)).at(-1)!;
    expect(last).toMatchObject({
      kind: 'rollback',
      status: 'success',
      model_id: first.id,
      previous_model_id: second.id,
      assignment_id: history[2].id,
    });
    expect(await t.db('audit_log').where({ entity_id: f.id, action: 'deployment.rolled_back' }).select('id')).toHaveLength(1);
  });

  it('when rolling back to the assignment that serves now, then the pipeline refuses it (422 with the model check) and nothing changes', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel();
    await changed(f.name, model);
    const [current] = await historyOf(f.id, 'staging');
    const $ = cheerio.load((await post(f.name, 'rollback', { assignment_id: current.id }).expect(422)).text);
    expect(listedChecks($)).toEqual([['model', false, `${model.display_name} already serves staging`]]);
    expect(await historyOf(f.id, 'staging')).toEqual([current]);
  });

  it.each([
    ['an assignment of another feature', 'other'],
    ['not a uuid', 'not-a-uuid'],
    ['a uuid of nothing', '00000000-0000-4000-8000-000000000000'],
    ['missing', undefined],
  ])('when the assignment is %s, then 422 and nothing is written', async (_what, which) => {
    const [f, other] = [await makeFeature(t.db), await makeFeature(t.db)];
    const [mine, theirs] = [await makeModel(), await makeModel()];
    await changed(f.name, mine);
    await changed(other.name, theirs);
    await changed(other.name, mine);
    const [foreign] = await historyOf(other.id, 'staging');
    const before = { mine: await deploymentsOf(f.id), theirs: await deploymentsOf(other.id) };
    const assignment_id = which === 'other' ? foreign.id : which;
    const res = await post(f.name, 'rollback', assignment_id === undefined ? {} : { assignment_id }).expect(422);
    expect(text(cheerio.load(res.text)('#deployment-result p').first())).toBe(
      'Choose an earlier assignment of this feature to roll back to',
    );
    expect({ mine: await deploymentsOf(f.id), theirs: await deploymentsOf(other.id) }).toEqual(before);
    expect(await activeIds(f.id, 'staging')).toEqual([mine.id]);
    expect(await activeIds(other.id, 'staging')).toEqual([mine.id]);
  });
});

describe('the Models tab forms through htmx', () => {
  it('when a change is posted with htmx headers and the CSRF header, then 200 with the #feature-panel fragment, the flash and HX-Push-Url of the tab', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel();
    const res = await admin
      .post(`${PATH}/${f.name}/models`)
      .set(hx)
      .set('X-CSRF-Token', adminCsrf)
      .type('form')
      .send({ model_id: model.id, environment: 'staging' })
      .expect(200)
      .expect('vary', /HX-Request.*HX-Target/);
    expect(res.headers['hx-push-url']).toBe(tabUrl(f.name, 'staging'));
    const $ = panelFragment(res.text);
    expect($('#feature-panel').attr('data-feature')).toBe(f.name);
    expect(text($('#feature-panel > .flashes .flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(model.display_name);
    expect(await activeIds(f.id, 'staging')).toEqual([model.id]);
    // The flash was handed out once, in the fragment.
    expect(panelFragment((await admin.get(tabUrl(f.name, 'staging')).set(hx).expect(200)).text)('.flash')).toHaveLength(0);
  });

  it('when a refused change is posted with htmx headers, then 422 whose body is the #feature-panel fragment with #deployment-result', async () => {
    const f = await makeFeature(t.db);
    const [served, failing] = [await makeModel(), await makeModel()];
    sim.configure(failing.name, { errorRate: 1 });
    await changed(f.name, served);
    const res = await admin
      .post(`${PATH}/${f.name}/models`)
      .set(hx)
      .type('form')
      .send({ model_id: failing.id, environment: 'staging', _csrf: adminCsrf })
      .expect(422);
    const $ = panelFragment(res.text);
    expect($('#deployment-result').attr('role')).toBe('alert');
    expect(listedChecks($).at(-1)).toEqual(['smoke', false, 'smoke request failed: the provider answered 503']);
    expect(text($('#current-model strong'))).toBe(served.display_name);
    expect(await activeIds(f.id, 'staging')).toEqual([served.id]);
  });

  it('when the CSRF header and field are both missing, then 403 for htmx too and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel();
    await admin.post(`${PATH}/${f.name}/models`).set(hx).type('form').send({ model_id: model.id, environment: 'staging' }).expect(403);
    expect(await deploymentsOf(f.id)).toEqual([]);
  });
});

describe('the Models tab candidates', () => {
  it('when the feature has token usage, then each what-if cell prices its tokens at the model, the current one is marked and unselectable, offline ones too, deprecated ones only in production', async () => {
    const f = await makeFeature(t.db);
    const current = await makeModel({ input_price_per_1k: 0.5, output_price_per_1k: 1.5 });
    const cheaper = await makeModel({ input_price_per_1k: 0.25, output_price_per_1k: 0.75 });
    const offline = await makeModel({ status: 'offline', input_price_per_1k: 0.001, output_price_per_1k: 0.002 });
    const deprecated = await makeModel({ status: 'deprecated', input_price_per_1k: 1, output_price_per_1k: 2 });
    const ref: ModelRef = {
      id: current.id,
      name: current.name,
      display_name: current.display_name,
      provider_id: simulatorId,
      provider_name: 'simulator',
      in_micro: 500_000,
      out_micro: 1_500_000,
    };
    const ago = (minutes: number) => new Date(Date.now() - minutes * MINUTE);
    await insertUsage(t.db, [
      { feature_id: f.id, model: ref, input_tokens: 8_000, output_tokens: 2_000, created_at: ago(5) },
      { feature_id: f.id, model: ref, input_tokens: 4_000, output_tokens: 1_000, created_at: ago(3 * 24 * 60), environment: 'staging' },
    ]);
    await changed(f.name, current, 'production');
    const [input, output] = [12_000, 3_000];
    const whatIf = (m: Row) => (input * Number(m.input_price_per_1k) + output * Number(m.output_price_per_1k)) / 1000;
    const currentCost = whatIf(current);
    expect(fmt.usd(currentCost)).toBe('$10.50');

    const $ = await tab(f.name, 'production');
    const row = (m: Row) => $(`#candidates tr[data-model="${m.name}"]`);
    expect(text(row(current).find('td[data-col="what-if"]'))).toBe(fmt.usd(currentCost));
    for (const m of [cheaper, offline, deprecated]) {
      expect(text(row(m).find('td[data-col="what-if"]')), m.name).toBe(
        `${fmt.usd(whatIf(m))} (${fmt.change(((whatIf(m) - currentCost) / currentCost) * 100)})`,
      );
    }
    expect(text(row(cheaper).find('td[data-col="what-if"]'))).toBe('$5.25 (−50.0%)');
    expect(text($('#models-tab > p.muted').first())).toBe(
      `This feature used 12,000 input and 3,000 output tokens in the last 30 days (all environments), $10.50 at ${current.display_name}'s list prices. The what-if column prices the same tokens at each model.`,
    );

    expect(
      $('#candidates tr.current')
        .toArray()
        .map((tr) => $(tr).attr('data-model')),
    ).toEqual([current.name]);
    expect(text(row(current).find('th .badge'))).toBe('current');
    const radio = (m: Row) => row(m).find('input[type="radio"][name="model_id"]');
    expect([current, offline, deprecated, cheaper].map((m) => [radio(m).val(), radio(m).attr('disabled') !== undefined])).toEqual([
      [current.id, true],
      [offline.id, true],
      [deprecated.id, true],
      [cheaper.id, false],
    ]);
    expect(text(row(offline).find('td').eq(2))).toBe('offline offline');
    expect(text(row(deprecated).find('td').eq(2))).toBe('deprecated deprecated: not for production');

    // In staging nothing serves: no current row, and the deprecated model may be chosen.
    const $s = await tab(f.name, 'staging');
    const radioS = (m: Row) => $s(`#candidates tr[data-model="${m.name}"] input[name="model_id"]`);
    expect([current, offline, deprecated].map((m) => radioS(m).attr('disabled') !== undefined)).toEqual([false, true, false]);
    expect($s('#candidates tr.current')).toHaveLength(0);
    expect(text($s(`#candidates tr[data-model="${cheaper.name}"] td[data-col="what-if"]`))).toBe('$5.25');
  });
});

describe('GET /api/v1/features/:name/config', () => {
  const config = (name: string, token: string | undefined, environment = 'staging', etag?: string) => {
    const req = request(t.app).get(`/api/v1/features/${name}/config?environment=${environment}`);
    if (token) req.set('Authorization', `Bearer ${token}`);
    if (etag) req.set('If-None-Match', etag);
    return req;
  };

  it('when read and ingest tokens ask, then the same config and ETag, a 304 for that ETag, and a new ETag after a deployment and after a status change', async () => {
    const [read, ingest] = [(await makeToken(t.db, 'read')).token, (await makeToken(t.db, 'ingest')).token];
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(), await makeModel()];
    await changed(f.name, first);

    const res = await config(f.name, read).expect(200).expect('content-type', /json/);
    expect(res.body).toMatchObject({
      feature: f.name,
      environment: 'staging',
      status: 'active',
      model: { id: first.id, name: first.name, type: 'llm', provider: 'simulator', provider_kind: 'simulator', base_url: null },
      prompt: null,
      settings: { error_rate_threshold: 5, latency_threshold_ms: 2000, monthly_budget_usd: null },
      version: expect.stringMatching(/^[\w-]{22}$/),
    });
    const etag = res.headers.etag;
    expect(etag).toBe(`"${res.body.version}"`);
    expect(res.headers['cache-control']).toBe('no-cache');
    const viaIngest = await config(f.name, ingest).expect(200);
    expect([viaIngest.headers.etag, viaIngest.body]).toEqual([etag, res.body]);
    const unchanged = await config(f.name, read, 'staging', etag).expect(304);
    expect([unchanged.text ?? '', unchanged.headers.etag]).toEqual(['', etag]);
    expect((await config(f.name, read, 'production').expect(200)).body.model).toBeNull();

    await changed(f.name, second);
    const deployed = await config(f.name, read, 'staging', etag).expect(200);
    expect(deployed.headers.etag).not.toBe(etag);
    expect(deployed.body.model.name).toBe(second.name);
    await config(f.name, ingest, 'staging', deployed.headers.etag).expect(304);

    await t.db('ai_features').where({ id: f.id }).update({ status: 'maintenance' });
    const paused = await config(f.name, ingest, 'staging', deployed.headers.etag).expect(200);
    expect(paused.headers.etag).not.toBe(deployed.headers.etag);
    expect(paused.body.status).toBe('maintenance');
    expect(paused.body.model.name).toBe(second.name);
  });

  it("when the serving model's provider has an encrypted API key, then the config names the provider and its base URL but never the key", async () => {
    const read = (await makeToken(t.db, 'read')).token;
    const name = `keyed-${suffix()}`;
    const id = randomUUID();
    const [provider] = await t
      .db('ai_providers')
      .insert({
        id,
        name,
        display_name: `Keyed ${name}`,
        kind: 'openai-compatible',
        base_url: sim.url,
        status: 'active',
        api_key_ciphertext: encryptSecret(Buffer.alloc(32, 7), 'sk-secret-123', id),
        api_key_last4: '-123',
      })
      .returning('*');
    const model = await makeModel({ provider_id: provider.id });
    const f = await makeFeature(t.db);
    await changed(f.name, model, 'production'); // the smoke request goes to the simulator's URL with the key

    const res = await config(f.name, read, 'production').expect(200);
    expect(res.body.model).toMatchObject({ name: model.name, provider: name, provider_kind: 'openai-compatible', base_url: sim.url });
    expect(res.text).not.toContain('sk-secret-123');
    expect(res.text).not.toMatch(/ciphertext|api_key|-123"/);
    expect(JSON.stringify(res.headers)).not.toContain('sk-secret-123');
  });

  it.each([
    ['an unknown feature', () => `nope-${suffix()}`, 'staging', 404, 'Feature not found'],
    ['environment=qa', () => 'chatbot', 'qa', 400, 'environment must be one of development, staging, production'],
  ])('when asked for %s, then %i with the JSON error', async (_what, name, environment, status, error) => {
    const read = (await makeToken(t.db, 'read')).token;
    const res = await config(name(), read, environment).expect(status);
    expect(res.body).toMatchObject({ success: false, error });
  });

  it('when there is no token, then 401', async () => {
    const res = await config('chatbot', undefined).expect(401);
    expect(res.body).toEqual({ success: false, error: 'Authentication required' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });
});

describe('Models tab forms with odd input', () => {
  it('when the environment is unknown, the promotion source is an inherited property name, or the feature is unknown, then 422 in the tab (404 for the feature) and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel();
    let res = await post(f.name, 'models', { model_id: model.id, environment: 'qa' }).expect(422);
    expect(text(cheerio.load(res.text)('#deployment-result p').first())).toBe(
      'Nothing was deployed: environment must be one of development, staging, production',
    );
    for (const from of ['constructor', '__proto__', 'toString']) {
      res = await post(f.name, 'promote', { from }).expect(422);
      expect(text(cheerio.load(res.text)('#deployment-result p').first())).toBe(
        'Promotion goes from development to staging or from staging to production',
      );
    }
    await post('no-such-feature', 'promote', { from: 'development' }).expect(404);
    await post('no-such-feature', 'rollback', { assignment_id: model.id }).expect(404);
    expect(await deploymentsOf(f.id)).toEqual([]);
  });
});

describe('Models tab hints', () => {
  it("when a model's provider is inactive or keyless, then its radio is disabled with the reason; rollback is not offered to the model serving now", async () => {
    const f = await makeFeature(t.db);
    const $ = await tab(f.name, 'staging');
    const mini = $('#candidates tr[data-model="gpt-4o-mini"]');
    expect(mini.find('input[type="radio"]').attr('disabled')).toBeDefined();
    expect(text(mini.find('td').eq(2))).toContain('OpenAI is inactive');
    const [first, second] = [await makeModel(), await makeModel()];
    await changed(f.name, first);
    await changed(f.name, second);
    await changed(f.name, first);
    const rollbacks = (await tab(f.name, 'staging'))('#assignment-history form[action$="/rollback"]');
    // Three rows: first (active), second, first (earlier): only "second" can be rolled back to.
    expect(rollbacks).toHaveLength(1);
  });
});
