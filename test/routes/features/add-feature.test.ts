import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, suffix } from '../../setup/factories.ts';
import { errorMessage, text } from '../../setup/html.ts';
import { csrfFor } from '../../setup/session.ts';
import { type Features, featureRow, featuresUrl, openFeatures, PATH } from './setup.ts';

// The add-feature form of the features page, as a browser without JavaScript posts it.

let c: Features;
let t: TestContext;
beforeAll(async () => {
  c = await openFeatures();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/features', () => {
  const written = async (name: string) => ({
    features: await t.db('ai_features').where({ name }).select('id', 'display_name', 'required_model_type'),
    audit: await t
      .db('audit_log')
      .where({ action: 'feature.created' })
      .whereRaw("after->>'name' = ?", [name])
      .select('actor_label', 'entity_id'),
  });

  it('when an admin adds a valid feature, then 303 to it, a flash on the next page, the row and an audit entry', async () => {
    const name = `new-${suffix()}`;
    const res = await c.admin.agent
      .post(PATH)
      .type('form')
      .send({
        name,
        display_name: ' Photo captions ',
        description: 'x',
        required_model_type: 'vision',
        _csrf: await csrfFor(c.admin.agent),
      })
      .expect(303);
    expect(res.headers.location).toBe(featuresUrl({ feature: name }));
    const $ = await c.page(res.headers.location);
    expect(text($('.flash-success'))).toContain('Feature “Photo captions” added');
    expect($('#feature-panel').attr('data-feature')).toBe(name);
    const { features, audit } = await written(name);
    expect(features).toEqual([{ id: expect.any(String), display_name: 'Photo captions', required_model_type: 'vision' }]);
    expect(audit).toEqual([{ actor_label: expect.stringMatching(/^admin-.*@example\.test$/), entity_id: features[0].id }]);
  });

  it('when the slug, display name and model type are invalid, then 422 with inline errors and aria-invalid, and nothing written', async () => {
    const name = `Bad Slug ${suffix()}`;
    const res = await c.admin.agent
      .post(PATH)
      .type('form')
      .send({ name, display_name: '  ', required_model_type: 'audio', _csrf: await csrfFor(c.admin.agent) })
      .expect(422);
    const $ = load(res.text);
    expect(text($('#name-error'))).toBe(
      'Slug must be lowercase letters, digits and dashes, start with a letter or digit, and be at most 63 characters',
    );
    expect(text($('#display_name-error'))).toBe('Display name is required');
    expect(text($('#required_model_type-error'))).toBe('Required model type must be one of llm, vision, embedding');
    for (const field of ['input[name="name"]', 'input[name="display_name"]', 'select[name="required_model_type"]'])
      expect($(field).attr('aria-invalid')).toBe('true');
    expect($('input[name="name"]').val()).toBe(name);
    expect($('details.add-feature').attr('open')).toBeDefined();
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the display name or description holds a NUL byte, then 422 inline and nothing written (not a 500)', async () => {
    const name = `nul-${suffix()}`;
    const form = {
      name,
      display_name: 'a\u0000b',
      description: 'd\u0000',
      required_model_type: 'llm',
      _csrf: await csrfFor(c.admin.agent),
    };
    const $ = load((await c.admin.agent.post(PATH).type('form').send(form).expect(422)).text);
    expect(text($('#display_name-error'))).toBe('Display name must not contain control characters');
    expect(text($('#description-error'))).toBe('Description must not contain control characters');
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the URL names a feature with a NUL byte, then 400, not a 500', async () => {
    await c.admin.agent.get(`${PATH}?feature=a%00b`).expect(400);
  });

  it('when the slug is taken, then 409 with the error inline on the name and nothing written', async () => {
    const taken = await makeFeature(t.db);
    const before = await written(taken.name);
    const form = { name: taken.name, display_name: 'Again', required_model_type: 'llm', _csrf: await csrfFor(c.admin.agent) };
    const $ = load((await c.admin.agent.post(PATH).type('form').send(form).expect(409)).text);
    expect(text($('#name-error'))).toBe('Slug is already taken');
    expect($('input[name="name"]').attr('aria-invalid')).toBe('true');
    expect(await written(taken.name)).toEqual(before);
    expect((await featureRow(t, taken.id)).display_name).toBe('Test feature');
  });

  it('when a viewer posts, then 403 and nothing written', async () => {
    const name = `viewer-${suffix()}`;
    const res = await c.viewer.agent
      .post(PATH)
      .type('form')
      .send({ name, display_name: 'V', required_model_type: 'llm', _csrf: await csrfFor(c.viewer.agent) })
      .expect(403);
    expect(errorMessage(res.text)).toBe('Only admins can make changes');
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });

  it('when the CSRF field is missing, then 403 and nothing written', async () => {
    const name = `nocsrf-${suffix()}`;
    await c.admin.agent.post(PATH).type('form').send({ name, display_name: 'N', required_model_type: 'llm' }).expect(403);
    expect(await written(name)).toEqual({ features: [], audit: [] });
  });
});
