import { type CheerioAPI, load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { FLASH, hx, type ModelsTab, openModelsTab, PATH, panelFragment, tabUrl } from './setup.ts';

// Issue 13 item 9: from the HTML forms, a deployment to production and every rollback take a second
// step. The first post answers 200 with what would change and a Confirm form re-posting the same
// fields with confirm=yes; nothing is written until that. Changes elsewhere act at once.

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

/** A post as the form sends it: no confirm field (c.post adds confirm=yes). */
const firstPost = (slug: string, action: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
  c.admin.agent
    .post(`${PATH}/${slug}/${action}`)
    .set(headers)
    .type('form')
    .send({ _csrf: c.admin.csrf, ...body });

const facts = ($: CheerioAPI) =>
  $('#confirmation dl.facts > div')
    .toArray()
    .map((d) => [text($(d).find('dt')), text($(d).find('dd'))]);

/** The Confirm form's hidden fields, by name. */
const confirmFields = ($: CheerioAPI) =>
  Object.fromEntries(
    $('#confirmation form input[type="hidden"]')
      .toArray()
      .map((i) => [$(i).attr('name'), $(i).attr('value')]),
  );

const nothingWritten = async (f: FeatureRecord, deployments: number, audits: number) => {
  expect(await c.deploymentsOf(f.id)).toHaveLength(deployments);
  expect(await t.db('audit_log').where({ entity_id: f.id })).toHaveLength(audits);
};

describe('POST /platform/ai-management/features/:slug/models to production (the confirmation step)', () => {
  it('when posted without confirm=yes, then 200 names the feature, environment and both models, writes nothing; the Confirm form re-posts it and it deploys', async () => {
    const f = await makeFeature(t.db);
    const [served, next] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, served, 'production');
    const audits = (await t.db('audit_log').where({ entity_id: f.id })).length;

    const res = await firstPost(f.name, 'models', { model_id: next.id, environment: 'production' }).expect(200);
    const $ = load(res.text);
    expect(text($('#confirmation-title'))).toBe(`Deploy ${f.display_name} in production?`);
    expect(facts($)).toEqual([
      ['Feature', f.display_name],
      ['Environment', 'production'],
      ['Model now', expect.stringContaining(served.display_name)],
      ['Model after', expect.stringContaining(next.display_name)],
    ]);
    expect($('#confirmation form').attr('action')).toBe(`${PATH}/${f.name}/models`);
    expect(confirmFields($)).toEqual({ _csrf: c.admin.csrf, model_id: next.id, environment: 'production', confirm: 'yes' });
    expect($('#confirmation a:contains("Cancel")').attr('href')).toBe(tabUrl(f.name, 'production'));
    expect($('#deployment-result')).toHaveLength(0);
    await nothingWritten(f, 1, audits);
    expect(await c.activeIds(f.id, 'production')).toEqual([served.id]);

    const done = await c.admin.agent.post(`${PATH}/${f.name}/models`).type('form').send(confirmFields($)).expect(303);
    expect(done.headers.location).toBe(tabUrl(f.name, 'production'));
    expect(await c.activeIds(f.id, 'production')).toEqual([next.id]);
  });

  it('when staging is changed, then it acts at once (no confirmation outside production)', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    await firstPost(f.name, 'models', { model_id: model.id, environment: 'staging' }).expect(303);
    expect(await c.activeIds(f.id, 'staging')).toEqual([model.id]);
  });

  it('when htmx posts it, then the panel fragment holds the confirmation, whose form hx-posts to the panel again', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const res = await firstPost(
      f.name,
      'models',
      { model_id: model.id, environment: 'production' },
      { ...hx, 'X-CSRF-Token': c.admin.csrf },
    ).expect(200);
    const $ = panelFragment(res.text);
    expect($('#confirmation form').attr('hx-post')).toBe(`${PATH}/${f.name}/models`);
    expect($('#confirmation form').attr('hx-target')).toBe('#feature-panel');
    expect(facts($)[2]).toEqual(['Model now', 'nothing (no model serves it yet)']);
    // The choice stays made under the confirmation.
    expect($(`#m-${model.id}`).attr('checked')).toBeDefined();
    await nothingWritten(f, 0, 0);
  });
});

describe('POST /platform/ai-management/features/:slug/promote and /rollback (the confirmation step)', () => {
  it('when staging is promoted to production without confirm=yes, then 200 with the confirmation on the staging tab and nothing written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    await c.changed(f.name, model, 'staging');
    const res = await firstPost(f.name, 'promote', { from: 'staging' }).expect(200);
    const $ = load(res.text);
    expect(text($('#confirmation-title'))).toBe(`Promote ${f.display_name} in production?`);
    expect(confirmFields($)).toMatchObject({ from: 'staging', confirm: 'yes' });
    expect(await c.activeIds(f.id, 'production')).toEqual([]);
    await nothingWritten(f, 1, 1);
  });

  it('when a rollback in staging is posted without confirm=yes, then 200 with the confirmation; confirmed, it rolls back', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);
    await c.changed(f.name, second);
    const [earlier] = await c.historyOf(f.id, 'staging');
    const res = await firstPost(f.name, 'rollback', { assignment_id: earlier.id }).expect(200);
    const $ = load(res.text);
    expect(text($('#confirmation-title'))).toBe(`Roll back ${f.display_name} in staging?`);
    expect(facts($).slice(2)).toEqual([
      ['Model now', expect.stringContaining(second.display_name)],
      ['Model after', expect.stringContaining(first.display_name)],
    ]);
    await nothingWritten(f, 2, 2);
    await c.admin.agent.post(`${PATH}/${f.name}/rollback`).type('form').send(confirmFields($)).expect(303);
    expect(await c.activeIds(f.id, 'staging')).toEqual([first.id]);
    const page = await c.tab(f.name, 'staging');
    expect(text(page('.flash-success'))).toBe(FLASH);
  });
});

describe('POST /platform/ai-management/models/:id/deploy to production (the confirmation step)', () => {
  it('when posted without confirm=yes, then 200 with the confirmation and nothing written; confirmed, it deploys', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    const path = `/platform/ai-management/models/${model.id}/deploy`;
    const res = await c.admin.agent
      .post(path)
      .type('form')
      .send({ _csrf: c.admin.csrf, feature: f.name, environment: 'production' })
      .expect(200);
    const $ = load(res.text);
    expect(text($('#confirmation-title'))).toBe(`Deploy ${f.display_name} in production?`);
    expect(confirmFields($)).toEqual({ _csrf: c.admin.csrf, feature: f.name, environment: 'production', confirm: 'yes' });
    await nothingWritten(f, 0, 0);
    await c.admin.agent.post(path).type('form').send(confirmFields($)).expect(303);
    expect(await c.activeIds(f.id, 'production')).toEqual([model.id]);
  });
});

describe('a refused change keeps the choice', () => {
  it('when the smoke request fails, then the 422 tab has the chosen model still checked', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    c.sim.configure(model.name, { errorRate: 1 });
    const $ = load((await firstPost(f.name, 'models', { model_id: model.id, environment: 'staging' }).expect(422)).text);
    expect($('#deployment-result')).toHaveLength(1);
    expect($('input[name="model_id"]:checked').attr('value')).toBe(model.id);
  });
});
