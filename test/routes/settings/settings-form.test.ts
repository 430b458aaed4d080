import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAssignment, makeFeature, makeModel } from '../../setup/factories.ts';
import { fragment, text } from '../../setup/html.ts';
import { DEFAULT_FORM, fieldError, hx, openSettingsTab, type SettingsTab, settingsUrl } from './setup.ts';

// The settings form of a feature's Settings tab, as a browser without JavaScript posts it and as htmx does.

let c: SettingsTab;
beforeAll(async () => {
  c = await openSettingsTab();
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/features/:slug/settings (settings form)', () => {
  it('when an admin saves new values, then 303 to the tab, a flash naming what changed, the row and one audit entry with before and after', async () => {
    const f = await makeFeature(c.t.db);
    const form = {
      ...DEFAULT_FORM,
      display_name: ' Support bot ',
      description: 'Answers tickets',
      error_rate_threshold: '2.5',
      latency_threshold_ms: '1500',
      monthly_budget_usd: '120.50',
      over_budget_action: 'flag',
      min_eval_pass_rate: '90',
    };
    const res = await c.post(f.name, form).expect(303);
    expect(res.headers.location).toBe(settingsUrl(f.name));
    const $ = await c.tab(f.name);
    expect(text($('.flash-success'))).toBe(
      'Saved: display name, description, error-rate threshold, latency threshold, monthly budget, over-budget action, minimum test-suite pass rate. Products see it at their next fetch of the runtime config.',
    );
    expect($('#settings-display_name').val()).toBe('Support bot');
    expect($('#settings-monthly_budget_usd').val()).toBe('120.5');
    expect($('#settings-over_budget_action').val()).toBe('flag');
    expect(await c.feature(f.id)).toMatchObject({
      display_name: 'Support bot',
      description: 'Answers tickets',
      error_rate_threshold: 2.5,
      latency_threshold_ms: 1500,
      monthly_budget_usd: 120.5,
      over_budget_action: 'flag',
      min_eval_pass_rate: 90,
    });
    expect(await c.audits(f.id)).toEqual([
      {
        action: 'feature.updated',
        actor_type: 'user',
        actor_label: c.admin.user.email,
        before: {
          display_name: 'Test feature',
          description: '',
          error_rate_threshold: 5,
          latency_threshold_ms: 2000,
          monthly_budget_usd: null,
          over_budget_action: 'notify',
          min_eval_pass_rate: null,
        },
        after: {
          display_name: 'Support bot',
          description: 'Answers tickets',
          error_rate_threshold: 2.5,
          latency_threshold_ms: 1500,
          monthly_budget_usd: 120.5,
          over_budget_action: 'flag',
          min_eval_pass_rate: 90,
        },
      },
    ]);
  });

  it('when the form is saved as it stands, then "Nothing changed", and no write and no audit entry', async () => {
    const f = await makeFeature(c.t.db);
    const before = await c.feature(f.id);
    await c.post(f.name, DEFAULT_FORM).expect(303);
    expect(text((await c.tab(f.name))('.flash-success'))).toBe('Nothing changed.');
    expect(await c.feature(f.id)).toEqual(before);
    expect(await c.audits(f.id)).toEqual([]);
  });

  it.each([
    ['display_name', '  ', 'Display name is required'],
    ['display_name', 'x'.repeat(121), 'Display name must be at most 120 characters'],
    ['description', 'a\u0000b', 'Description must not contain control characters'],
    ['required_model_type', 'audio', 'Required model type must be one of llm, vision, embedding'],
    ['error_rate_threshold', '', 'Error-rate threshold must be a percentage above 0 and at most 100'],
    ['error_rate_threshold', '0', 'Error-rate threshold must be a percentage above 0 and at most 100'],
    ['error_rate_threshold', '100.5', 'Error-rate threshold must be a percentage above 0 and at most 100'],
    ['error_rate_threshold', '2.555', 'Error-rate threshold must have at most 2 decimal places'],
    ['error_rate_threshold', 'five', 'Error-rate threshold must be a percentage above 0 and at most 100'],
    ['latency_threshold_ms', '0', 'Latency threshold must be a whole number of milliseconds from 1 to 600000'],
    ['latency_threshold_ms', '250.5', 'Latency threshold must be a whole number'],
    ['latency_threshold_ms', '600001', 'Latency threshold must be a whole number of milliseconds from 1 to 600000'],
    ['monthly_budget_usd', '-1', 'Monthly budget must be an amount in USD, 0 or more (blank for no budget)'],
    ['monthly_budget_usd', '10.001', 'Monthly budget must have at most 2 decimal places'],
    ['over_budget_action', 'stop', 'Over budget must be one of notify, flag'],
    [
      'min_eval_pass_rate',
      '101',
      'Minimum test-suite pass rate for production changes must be a percentage from 0 to 100 (blank for no minimum)',
    ],
  ])('when %s is %j, then 422 with the message on that field, the value kept, and nothing written', async (name, value, message) => {
    const f = await makeFeature(c.t.db);
    const before = await c.feature(f.id);
    const res = await c.post(f.name, { ...DEFAULT_FORM, display_name: 'Renamed too', [name]: value }).expect(422);
    const $ = load(res.text);
    expect(fieldError($, name)).toEqual({ message, invalid: true });
    if ($(`#settings-${name}`).is('input') && name !== 'description') expect($(`#settings-${name}`).val()).toBe(value);
    expect($('.field-error').length).toBe(1);
    expect(await c.feature(f.id)).toEqual(before);
    expect(await c.audits(f.id)).toEqual([]);
  });

  it('when the required model type conflicts with an active assignment, then 422 naming the model and its environment, and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    const model = await makeModel(c.t.db, { model_type: 'llm' });
    await makeAssignment(c.t.db, { feature_id: f.id, model_id: model.id, environment: 'staging' });
    const res = await c.post(f.name, { ...DEFAULT_FORM, required_model_type: 'vision' }).expect(422);
    expect(fieldError(load(res.text), 'required_model_type')).toEqual({
      message: `Required model type cannot be vision while ${model.display_name} (llm) serves staging: assign vision models there first`,
      invalid: true,
    });
    expect((await c.feature(f.id)).required_model_type).toBe('llm');
    expect(await c.audits(f.id)).toEqual([]);
  });

  it('when only an inactive assignment has another type, then the type changes', async () => {
    const f = await makeFeature(c.t.db);
    const model = await makeModel(c.t.db, { model_type: 'llm' });
    await makeAssignment(c.t.db, { feature_id: f.id, model_id: model.id, is_active: false });
    await c.post(f.name, { ...DEFAULT_FORM, required_model_type: 'embedding' }).expect(303);
    expect((await c.feature(f.id)).required_model_type).toBe('embedding');
  });

  it('when htmx posts a refused form, then the panel alone with 422 and the message; a good one, the panel with the flash and the tab URL', async () => {
    const f = await makeFeature(c.t.db);
    const refused = await c
      .post(f.name, { ...DEFAULT_FORM, latency_threshold_ms: '-5' })
      .set(hx)
      .expect(422);
    const $r = fragment(refused.text, 'feature-panel');
    expect(fieldError($r, 'latency_threshold_ms').invalid).toBe(true);
    const saved = await c
      .post(f.name, { ...DEFAULT_FORM, latency_threshold_ms: '900' })
      .set(hx)
      .expect(200);
    expect(saved.headers['hx-push-url']).toBe(settingsUrl(f.name));
    const $ = fragment(saved.text, 'feature-panel');
    expect(text($('.flash-success'))).toContain('Saved: latency threshold.');
    expect($('#settings-latency_threshold_ms').val()).toBe('900');
    expect((await c.feature(f.id)).latency_threshold_ms).toBe(900);
  });

  it('when a viewer opens the tab, then the settings are shown without forms; when a viewer posts, then 403 and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    const $ = await c.tab(f.name, c.viewer);
    expect($('#settings-form, #status-form').length).toBe(0);
    expect(text($('#settings-tab dt:contains("Latency threshold (p95)") + dd'))).toBe('2,000 ms');
    await c.post(f.name, { ...DEFAULT_FORM, display_name: 'Viewer was here' }, c.viewer).expect(403);
    expect((await c.feature(f.id)).display_name).toBe('Test feature');
  });

  it('when a field the form does not have is posted, then 422 naming it and nothing written', async () => {
    const f = await makeFeature(c.t.db);
    const res = await c.post(f.name, { ...DEFAULT_FORM, name: 'renamed' }).expect(422);
    expect(text(load(res.text)('#settings-errors'))).toBe('name is not a field that can be set');
    expect((await c.feature(f.id)).name).toBe(f.name);
  });
});
