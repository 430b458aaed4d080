import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import { type ModelsTab, openModelsTab, PATH } from './setup.ts';

// A served model that cannot answer is said loudly (overview, feature card, Models tab), and an
// action the pipeline would refuse for a reason known in advance is shown disabled with that reason.

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

/** A model whose provider is inactive and keyless: the pipeline refuses it before trying. */
async function deadModel() {
  const provider = await makeProvider(t.db, { status: 'inactive' });
  return { provider, model: await makeModel(t.db, { provider_id: provider.id }) };
}

const get = async (url: string) => load((await c.admin.agent.get(url).expect(200)).text);

describe('GET the Models tab: actions the pipeline would refuse', () => {
  it('when an earlier assignment’s provider is inactive, then its rollback is a disabled button with the reason, and a usable one keeps its form', async () => {
    const f = await makeFeature(t.db);
    const { provider, model: dead } = await deadModel();
    const usable = await makeModel(t.db);
    const serving = await makeModel(t.db);
    const old = await makeAssignment(t.db, {
      feature_id: f.id,
      model_id: dead.id,
      environment: 'staging',
      is_active: false,
      assigned_at: ago(3),
    });
    const fine = await makeAssignment(t.db, {
      feature_id: f.id,
      model_id: usable.id,
      environment: 'staging',
      is_active: false,
      assigned_at: ago(2),
    });
    await makeAssignment(t.db, { feature_id: f.id, model_id: serving.id, environment: 'staging', assigned_at: ago(1) });

    const $ = await c.tab(f.name, 'staging');
    const blocked = $(`tr[data-assignment="${old.id}"]`);
    expect(blocked.find('form')).toHaveLength(0);
    expect(blocked.find('button').prop('disabled')).toBe(true);
    expect(text(blocked.find('[data-blocked]'))).toBe(`${provider.display_name} is inactive`);
    expect(blocked.find('button').attr('aria-describedby')).toBe(blocked.find('[data-blocked]').attr('id'));
    const open = $(`tr[data-assignment="${fine.id}"]`);
    expect(open.find('form button').prop('disabled')).toBe(false);
    // No green "available" beside the refusal among the candidates.
    const row = $(`#candidates tr[data-model="${dead.name}"]`);
    expect(text(row)).toContain(`${provider.display_name} is inactive`);
    expect(row.find('.model-available')).toHaveLength(0);
    expect($(`#candidates tr[data-model="${usable.name}"] .model-available`)).toHaveLength(1);
  });

  it('when the model to promote is on an inactive provider, then Promote is disabled with the reason', async () => {
    const f = await makeFeature(t.db);
    const { provider, model } = await deadModel();
    await makeAssignment(t.db, { feature_id: f.id, model_id: model.id, environment: 'development' });
    const $ = await c.tab(f.name, 'development');
    expect($('#current-model form')).toHaveLength(0);
    const button = $('#current-model button');
    expect(text(button)).toBe('Promote to staging');
    expect(button.prop('disabled')).toBe(true);
    expect(text($('#promote-blocked'))).toBe(`${provider.display_name} is inactive`);
  });
});

describe('GET a model’s deploy page: options the pipeline would refuse', () => {
  it('when the model’s provider is inactive, then Deploy is disabled with the reason; when the model is deprecated, production alone is not offered', async () => {
    await makeFeature(t.db); // something to deploy to
    const { provider, model } = await deadModel();
    let $ = await get(`/platform/ai-management/models/${model.id}/deploy`);
    expect($('form[action$="/deploy"] button[type="submit"]').prop('disabled')).toBe(true);
    expect(text($('#deploy-blocked'))).toBe(`${provider.display_name} is inactive`);

    const old = await makeModel(t.db, { status: 'deprecated' });
    $ = await get(`/platform/ai-management/models/${old.id}/deploy`);
    expect($('form[action$="/deploy"] button[type="submit"]').prop('disabled')).toBe(false);
    const production = $('#deploy-environment option[value="production"]');
    expect(production.prop('disabled')).toBe(true);
    expect(text(production)).toBe(`production (not offered: ${old.display_name} is deprecated and cannot be assigned in production)`);
    expect($('#deploy-environment option[value="staging"]').prop('disabled')).toBe(false);
  });
});

describe('A served model that cannot answer', () => {
  it('when production is served by a model of an inactive provider, then the overview, the feature card and the Models tab say so', async () => {
    const f = await makeFeature(t.db);
    const { provider, model } = await deadModel();
    await makeAssignment(t.db, { feature_id: f.id, model_id: model.id, environment: 'production' });
    const reason = `${model.display_name} cannot serve production: ${provider.display_name} is inactive`;

    const overview = await get('/platform/ai-management');
    expect(text(overview(`#unservable li[data-feature="${f.name}"]`))).toBe(
      `${f.display_name} · production: ${model.display_name}: ${provider.display_name} is inactive`,
    );
    const page = await get(`${PATH}?feature=${f.name}`);
    expect(text(page(`a.feature-card[data-feature="${f.name}"] .serving-warning`))).toBe(reason);
    const tab = await c.tab(f.name, 'production');
    expect(text(tab('#models-tab .serving-warning[data-serving-problem="production"]'))).toBe(reason);
  });

  it('when the stored key no longer decrypts, then Test connection records why and the served model is warned about', async () => {
    const f = await makeFeature(t.db);
    const provider = await makeProvider(t.db, { status: 'active', key: 'sk-test-abcd1234' });
    // Sealed for another provider: it does not open here (the key is bound to its provider's id).
    const other = await makeProvider(t.db, { key: 'sk-test-zzzz9999' });
    await t.db('ai_providers').where({ id: provider.id }).update({ api_key_ciphertext: other.api_key_ciphertext });
    const model = await makeModel(t.db, { provider_id: provider.id });
    await makeAssignment(t.db, { feature_id: f.id, model_id: model.id, environment: 'production' });
    await c.admin.agent
      .post(`/platform/ai-management/providers/${provider.name}/test`)
      .type('form')
      .send({ _csrf: c.admin.csrf })
      .expect(303);
    const page = await get(`${PATH}?feature=${f.name}`);
    expect(text(page(`a.feature-card[data-feature="${f.name}"] .serving-warning`))).toBe(
      `${model.display_name} cannot serve production: ${provider.display_name} did not answer its last probe: the stored API key cannot be decrypted with this SECRETS_KEY: enter the key again`,
    );
  });

  it('when the provider is active with a key but its last probe failed, then the warning gives the probe’s error, and a later good probe clears it', async () => {
    const f = await makeFeature(t.db);
    const provider = await makeProvider(t.db, { status: 'active', key: 'sk-test-abcd1234' });
    const model = await makeModel(t.db, { provider_id: provider.id });
    await makeAssignment(t.db, { feature_id: f.id, model_id: model.id, environment: 'production' });
    const probe = (status: 'ok' | 'error', at: Date) =>
      t
        .db('health_checks')
        .insert({ provider_id: provider.id, kind: 'probe', status, error: status === 'ok' ? null : 'connection refused', checked_at: at });
    await probe('ok', ago(2));
    await probe('error', ago(1));

    const page = await get(`${PATH}?feature=${f.name}`);
    expect(text(page(`a.feature-card[data-feature="${f.name}"] .serving-warning`))).toBe(
      `${model.display_name} cannot serve production: ${provider.display_name} did not answer its last probe: connection refused`,
    );
    await probe('ok', ago(0));
    const cleared = await get(`${PATH}?feature=${f.name}`);
    expect(cleared(`a.feature-card[data-feature="${f.name}"] .serving-warning`)).toHaveLength(0);
    expect((await get('/platform/ai-management'))(`#unservable li[data-feature="${f.name}"]`)).toHaveLength(0);
  });
});
