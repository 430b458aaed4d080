import crypto from 'node:crypto';
import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAssignment, makeFeature, makeModel, suffix } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { DeploymentRecord, FeatureRecord, ModelRecord } from '../../setup/rows.ts';
import { type Fixture, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, catalogueUrl, openCatalogue } from './setup.ts';

// A model's Configure and Deploy pages and their forms, as a browser without JavaScript uses them;
// deployments go through the pipeline to the simulator.

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('model_forms');
  fx = await seedFixture(c.db);
});
afterAll(() => c?.close());

describe('GET|POST /platform/ai-management/models/:id/edit (Configure)', () => {
  it("when the edit page is shown, then the form holds the model's values and posts to itself with the CSRF field", async () => {
    const m = fx.models.quill;
    const $ = await c.page(`${CATALOGUE}/${m.id}/edit`);
    const form = $(`form[action="${CATALOGUE}/${m.id}/edit"]`);
    expect(form.attr('method')).toBe('post');
    expect(form.find('input[name="_csrf"]').val()).toBe(c.admin.csrf);
    expect($('#model-display_name').val()).toBe('Quill');
    expect($('#model-status option[selected]').val()).toBe('beta');
    expect(Number($('#model-input_price_per_1k').val())).toBe(0.1);
    expect($('#model-context_window').val()).toBe('8192');
    expect($('input[name="confirm"]')).toHaveLength(0);
  });

  it('when display name, prices and context window are changed, then 303 to the model page, stored and audited', async () => {
    const m = await makeModel(c.db, { provider_id: fx.bolt.id });
    const res = await c
      .postForm(`${CATALOGUE}/${m.id}/edit`, {
        display_name: 'Reconfigured',
        status: 'beta',
        input_price_per_1k: '0.7',
        output_price_per_1k: '1.4',
        context_window: '64000',
      })
      .expect(303);
    expect(res.headers.location).toBe(`${CATALOGUE}/${m.id}`);
    const row = (await c.db('ai_models').where({ id: m.id }).first())!;
    expect([row.display_name, row.status, Number(row.input_price_per_1k), Number(row.output_price_per_1k), row.context_window]).toEqual([
      'Reconfigured',
      'beta',
      0.7,
      1.4,
      64000,
    ]);
    expect(await c.db('audit_log').where({ entity_id: m.id }).pluck('action')).toEqual(['model.updated']);
    const $ = await c.page(catalogueUrl({ tab: 'models', q: m.name }));
    expect(text($('.flash-success'))).toBe('Saved Reconfigured.');
  });

  it('when a model serving production is deprecated, then 409 with a warning naming the feature and a confirm box, nothing changed; confirmed, 303 and deprecated', async () => {
    const m = await makeModel(c.db, { display_name: `Serving ${suffix()}` });
    const f = await makeFeature(c.db, { display_name: `Production feature ${suffix()}` });
    const other = await makeFeature(c.db, { display_name: `Staging feature ${suffix()}` });
    await makeAssignment(c.db, { feature_id: f.id, model_id: m.id, environment: 'production' });
    await makeAssignment(c.db, { feature_id: other.id, model_id: m.id, environment: 'staging' });
    const before = await c.snapshot();
    const form = {
      display_name: m.display_name,
      status: 'deprecated',
      input_price_per_1k: '0.001',
      output_price_per_1k: '0.002',
      context_window: '',
    };
    const res = await c.postForm(`${CATALOGUE}/${m.id}/edit`, form).expect(409);
    const $ = load(res.text);
    const warning = text($('#status-warning'));
    expect(warning).toContain(`${f.display_name} (production)`);
    expect(warning).not.toContain(other.display_name); // deprecated models may still serve staging
    expect($('input[type="checkbox"][name="confirm"]')).toHaveLength(1);
    expect($('#model-status option[selected]').val()).toBe('deprecated');
    expect(await c.snapshot()).toEqual(before);

    const confirmed = await c.postForm(`${CATALOGUE}/${m.id}/edit`, { ...form, confirm: 'yes' }).expect(303);
    expect(confirmed.headers.location).toBe(`${CATALOGUE}/${m.id}`);
    expect((await c.db('ai_models').where({ id: m.id }).first())?.status).toBe('deprecated');
    const $after = await c.page(catalogueUrl({ tab: 'models', q: m.name }));
    expect(text($after('.flash-error'))).toContain(`${f.display_name} (production)`);
    expect(text($after(`li[data-model="${m.name}"] .badge`))).toBe('deprecated');

    // Taking it offline warns about every environment it serves.
    const off = await c.postForm(`${CATALOGUE}/${m.id}/edit`, { ...form, status: 'offline' }).expect(409);
    const offWarning = text(load(off.text)('#status-warning'));
    expect(offWarning).toContain(`${f.display_name} (production)`);
    expect(offWarning).toContain(`${other.display_name} (staging)`);
    expect((await c.db('ai_models').where({ id: m.id }).first())?.status).toBe('deprecated');
  });

  it('when the edit is invalid, then 422 inline and nothing is written; an unknown model is 404', async () => {
    const m = fx.models.beta;
    const before = await c.snapshot();
    const res = await c
      .postForm(`${CATALOGUE}/${m.id}/edit`, {
        display_name: 'Zephyr Beta',
        status: 'retired',
        input_price_per_1k: '-3',
        output_price_per_1k: '4',
        context_window: '0',
      })
      .expect(422);
    const $ = load(res.text);
    expect(text($('#model-status-error'))).toBe('Status must be one of available, beta, deprecated, offline');
    expect(text($('#model-input_price_per_1k-error'))).toBe('Input price must be 0 or more');
    expect(text($('#model-context_window-error'))).toBe('Context window must be at least 1');
    expect(await c.snapshot()).toEqual(before);
    await c.admin.agent.get(`${CATALOGUE}/${crypto.randomUUID()}/edit`).expect(404);
  });
});

describe('GET|POST /platform/ai-management/models/:id/deploy (Deploy)', () => {
  it("when shown, then only features needing the model's type are offered, the others named as not offered", async () => {
    const m = await makeModel(c.db, { model_type: 'embedding', display_name: `Embedder ${suffix()}` });
    const $ = await c.page(`${CATALOGUE}/${m.id}/deploy`);
    const features: FeatureRecord[] = await c.db('ai_features').select('name', 'display_name', 'required_model_type');
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
    expect($(`form[action="${CATALOGUE}/${m.id}/deploy"] input[name="_csrf"]`).val()).toBe(c.admin.csrf);
  });

  it('when deployed through the simulator, then every check passes: 303 to the deployment page and the model serves the feature there', async () => {
    const m = await makeModel(c.db, { display_name: `Deployable ${suffix()}` });
    const f = await makeFeature(c.db);
    const res = await c.postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: f.name, environment: 'staging' });
    expect(res.status, text(load(res.text)('#deployment-result'))).toBe(303);
    const deployment: DeploymentRecord = (await c.db('deployments').where({ feature_id: f.id }).first())!;
    expect(res.headers.location).toBe(`/platform/ai-management/deployments/${deployment.id}`);
    expect(deployment).toMatchObject({ status: 'success', model_id: m.id, environment: 'staging', kind: 'assign' });
    expect(deployment.checks.map((check) => [check.name, check.ok])).toEqual([
      ['model', true],
      ['provider', true],
      ['smoke', true],
    ]);
    expect(
      await c.db('feature_model_assignments').where({ feature_id: f.id, environment: 'staging', is_active: true }).pluck('model_id'),
    ).toEqual([m.id]);
    const $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${m.display_name} now serves ${f.display_name} in staging: every check passed.`);
  });

  it.each([
    [
      'the model is offline',
      { status: 'offline' },
      {},
      [['model', false]],
      (m: ModelRecord) => `${m.display_name} is offline and cannot be assigned`,
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
      const served = await makeModel(c.db);
      const m = await makeModel(c.db, { display_name: `Refused ${suffix()}`, ...fields });
      c.sim.configure(m.name, behaviour);
      const f = await makeFeature(c.db);
      await c.postForm(`${CATALOGUE}/${served.id}/deploy`, { feature: f.name, environment: 'production', confirm: 'yes' }).expect(303);
      const res = await c
        .postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: f.name, environment: 'production', confirm: 'yes' })
        .expect(422);
      const $ = load(res.text);
      expect(text($('#deployment-result h3'))).toBe('The deployment was refused; nothing was changed');
      expect(
        $('#deployment-result ol.checks li')
          .toArray()
          .map((li) => [$(li).find('strong').text(), $(li).hasClass('tone-good')]),
      ).toEqual(checks);
      expect(text($('#deployment-result ol.checks li').last())).toContain(detail(m));
      expect($('#deploy-feature option[selected]').val()).toBe(f.name);
      expect(
        await c.db('feature_model_assignments').where({ feature_id: f.id, environment: 'production', is_active: true }).pluck('model_id'),
      ).toEqual([served.id]);
      const last = (await c.db('deployments').where({ feature_id: f.id }).orderBy('started_at', 'desc').first())!;
      expect(last).toMatchObject({ status: 'failed', model_id: m.id });
      expect($('#deployment-result > p a').attr('href')).toBe(`/platform/ai-management/deployments/${last.id}`);
    },
  );

  it('when no feature or an unknown environment is given, then 422 saying so and nothing is deployed', async () => {
    const m = await makeModel(c.db);
    const before = await c.snapshot();
    let res = await c.postForm(`${CATALOGUE}/${m.id}/deploy`, { environment: 'staging' }).expect(422);
    expect(text(load(res.text)('#deploy-feature-error'))).toBe('Feature is required: choose the feature to deploy to');
    res = await c.postForm(`${CATALOGUE}/${m.id}/deploy`, { feature: fx.feature.name, environment: 'qa' }).expect(422);
    expect(text(load(res.text)('#deployment-result > p'))).toBe(
      'Nothing was deployed: environment must be one of development, staging, production',
    );
    expect(await c.snapshot()).toEqual(before);
  });
});
