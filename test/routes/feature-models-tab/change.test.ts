import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel } from '../../setup/factories.ts';
import { errorMessage, text } from '../../setup/html.ts';
import { ALL_PASSED, checksOf, FLASH, hx, listedChecks, type ModelsTab, openModelsTab, PATH, panelFragment, tabUrl } from './setup.ts';

// POST /platform/ai-management/features/:slug/models, the change form of a feature's Models tab:
// without JavaScript (303 to the tab with a flash) and through htmx (the #feature-panel fragment).

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/features/:slug/models (the change form, without JavaScript)', () => {
  it('when an admin changes the staging model, then 303 to the staging Models tab, a flash once, the new current model, one active assignment and a successful deployment', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);
    await c.changed(f.name, second);

    const $ = await c.tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(second.display_name);
    expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');
    expect(text($('#environments tr[data-environment="staging"] td').first())).toBe(second.display_name);
    expect($(`#candidates tr[data-model="${second.name}"]`).hasClass('current')).toBe(true);
    expect((await c.tab(f.name, 'staging'))('.flash')).toHaveLength(0); // shown once

    expect(await c.activeIds(f.id, 'staging')).toEqual([second.id]);
    const [, last] = await c.deploymentsOf(f.id);
    const active = (await t.db('feature_model_assignments').where({ feature_id: f.id, environment: 'staging', is_active: true }).first())!;
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
    const model = await makeModel(t.db);
    await c.admin.agent.post(`${PATH}/${f.name}/models`).type('form').send({ model_id: model.id, environment: 'staging' }).expect(403);
    expect(await c.deploymentsOf(f.id)).toEqual([]);
    expect(await c.historyOf(f.id, 'staging')).toEqual([]);
  });

  it('when a viewer posts, then 403, nothing is written, and the tab shows the tables without any control', async () => {
    const f = await makeFeature(t.db);
    const [served, other] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, served);
    await c.changed(f.name, other);
    const before = await c.deploymentsOf(f.id);
    const res = await c.post(f.name, 'models', { model_id: served.id, environment: 'staging' }, c.viewer).expect(403);
    expect(errorMessage(res.text)).toBe('Only admins can make changes');
    expect(await c.deploymentsOf(f.id)).toEqual(before);
    expect(await c.activeIds(f.id, 'staging')).toEqual([other.id]);

    const $ = await c.tab(f.name, 'staging', c.viewer);
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
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);
    await c.changed(f.name, second);
    const $ = await c.tab(f.name, 'staging');
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
    const htmx = ['#feature-panel', 'outerHTML', '#deploy-progress', c.admin.csrf];
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
    const [firstAssignment] = await c.historyOf(f.id, 'staging');
    expect(
      $('#assignment-history form input[name="assignment_id"]')
        .toArray()
        .map((i) => $(i).val()),
    ).toEqual([firstAssignment.id]);
    // Production is the end of the line: nothing to promote to.
    await c.changed(f.name, first, 'production');
    expect((await c.tab(f.name, 'production'))('form[action$="/promote"]')).toHaveLength(0);
  });
});

describe('POST /platform/ai-management/features/:slug/models through htmx', () => {
  it('when a change is posted with htmx headers and the CSRF header, then 200 with the #feature-panel fragment, the flash and HX-Push-Url of the tab', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const res = await c.admin.agent
      .post(`${PATH}/${f.name}/models`)
      .set(hx)
      .set('X-CSRF-Token', c.admin.csrf)
      .type('form')
      .send({ model_id: model.id, environment: 'staging' })
      .expect(200)
      .expect('vary', /HX-Request.*HX-Target/);
    expect(res.headers['hx-push-url']).toBe(tabUrl(f.name, 'staging'));
    const $ = panelFragment(res.text);
    expect($('#feature-panel').attr('data-feature')).toBe(f.name);
    expect(text($('#feature-panel > .flashes .flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(model.display_name);
    expect(await c.activeIds(f.id, 'staging')).toEqual([model.id]);
    // The flash was handed out once, in the fragment.
    expect(panelFragment((await c.admin.agent.get(tabUrl(f.name, 'staging')).set(hx).expect(200)).text)('.flash')).toHaveLength(0);
  });

  it('when a refused change is posted with htmx headers, then 422 whose body is the #feature-panel fragment with #deployment-result', async () => {
    const f = await makeFeature(t.db);
    const [served, failing] = [await makeModel(t.db), await makeModel(t.db)];
    c.sim.configure(failing.name, { errorRate: 1 });
    await c.changed(f.name, served);
    const res = await c.admin.agent
      .post(`${PATH}/${f.name}/models`)
      .set(hx)
      .type('form')
      .send({ model_id: failing.id, environment: 'staging', _csrf: c.admin.csrf })
      .expect(422);
    const $ = panelFragment(res.text);
    expect($('#deployment-result').attr('role')).toBe('alert');
    expect(listedChecks($).at(-1)).toEqual(['smoke', false, 'smoke request failed: the provider answered 503']);
    expect(text($('#current-model strong'))).toBe(served.display_name);
    expect(await c.activeIds(f.id, 'staging')).toEqual([served.id]);
  });

  it('when the CSRF header and field are both missing, then 403 for htmx too and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    await c.admin.agent
      .post(`${PATH}/${f.name}/models`)
      .set(hx)
      .type('form')
      .send({ model_id: model.id, environment: 'staging' })
      .expect(403);
    expect(await c.deploymentsOf(f.id)).toEqual([]);
  });
});
