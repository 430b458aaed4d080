import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as restoreStatus } from '../../../src/jobs/restore-status.ts';
import { makeFeature } from '../../setup/factories.ts';
import { fragment, text } from '../../setup/html.ts';
import { insertUsage, modelsByName } from '../../setup/usage-factory.ts';
import { DEFAULT_FORM, fieldError, hx, openSettingsTab, PATH, type SettingsTab } from './setup.ts';

// The kill switch of the Settings tab: status, reason and automatic restore time, what the runtime
// config says at once, the confirmation before production is turned off, and the restore job.

let c: SettingsTab;
beforeAll(async () => {
  c = await openSettingsTab();
});
afterAll(() => c?.close());

const MINUTE = 60_000;

describe('the kill switch (POST …/:slug/settings with status)', () => {
  it('when a feature serving nothing in production is put in maintenance, then the runtime config says so at once, with the reason, the restore time and a new ETag', async () => {
    const f = await makeFeature(c.t.db);
    const { token } = await c.token('read');
    const before = await c.config(f.name, token, 'staging').expect(200);
    expect(before.body).toMatchObject({ status: 'active', status_reason: null, restore_at: null, over_budget: false });
    const restoreAt = new Date(Date.now() + 60 * MINUTE);
    restoreAt.setUTCSeconds(0, 0);
    const local = restoreAt.toISOString().slice(0, 16); // the test app shows times in UTC
    await c.post(f.name, { status: 'maintenance', status_reason: 'Provider outage', restore_at: local }).expect(303);

    const after = await c.config(f.name, token, 'staging', before.headers.etag).expect(200);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.body).toMatchObject({ status: 'maintenance', status_reason: 'Provider outage', restore_at: restoreAt.toISOString() });
    const $ = await c.tab(f.name);
    expect(text($('#current-status'))).toContain('maintenance · Provider outage · becomes active again at');
    expect($('#settings-restore_at').val()).toBe(local);
    expect(await c.audits(f.id)).toEqual([
      expect.objectContaining({
        action: 'feature.updated',
        before: { status: 'active', status_reason: null, restore_at: null },
        after: { status: 'maintenance', status_reason: 'Provider outage', restore_at: restoreAt.toISOString() },
      }),
    ]);
  });

  it.each([
    [{ status: 'inactive', status_reason: '' }, 'status_reason', 'Reason is required to put the feature in inactive'],
    [
      { status: 'maintenance', status_reason: 'x', restore_at: '2020-01-01T10:00' },
      'restore_at',
      'Restore automatically at must be in the future',
    ],
    [
      { status: 'maintenance', status_reason: 'x', restore_at: 'tomorrow' },
      'restore_at',
      'Restore automatically at must be a date and time (YYYY-MM-DDTHH:MM), or blank for none',
    ],
    [
      { status: 'active', status_reason: 'why not' },
      'status_reason',
      'Reason can only be given while the feature is in maintenance or inactive',
    ],
    [{ status: 'paused', status_reason: 'x' }, 'status', 'Status must be one of active, inactive, maintenance'],
  ])('when the kill switch is sent %j, then 422 with the message on %s and nothing written', async (form, name, message) => {
    const f = await makeFeature(c.t.db);
    const before = await c.feature(f.id);
    const res = await c.post(f.name, form).expect(422);
    expect(fieldError(load(res.text), name)).toEqual({ message, invalid: true });
    expect(await c.feature(f.id)).toEqual(before);
    expect(await c.audits(f.id)).toEqual([]);
  });

  it('when a feature serving production is turned off, then a confirmation names what serves where and nothing is written until it is confirmed', async () => {
    const { f, modelName } = await c.serving();
    const { token } = await c.token('ingest');
    const etag = (await c.config(f.name, token).expect(200)).headers.etag;
    const form = { status: 'inactive', status_reason: 'Bad answers' };
    const asked = await c.post(f.name, form).expect(200);
    const $ = load(asked.text);
    expect(text($('#status-confirmation'))).toContain(`Put Test feature in inactive? It serves: Production: ${modelName}`);
    expect(text($('#served-now'))).toBe(`Serving now: Production: ${modelName}`);
    const hidden = Object.fromEntries(
      $('#status-confirmation input[type="hidden"]')
        .toArray()
        .map((e) => [$(e).attr('name'), $(e).val()]),
    );
    expect(hidden).toEqual({ _csrf: c.admin.csrf, status: 'inactive', status_reason: 'Bad answers', confirm: 'yes' });
    expect((await c.feature(f.id)).status).toBe('active');
    expect(await c.audits(f.id)).toEqual([]);
    await c.config(f.name, token, 'production', etag).expect(304);

    await c.post(f.name, { ...form, confirm: 'yes' }).expect(303);
    expect(await c.feature(f.id)).toMatchObject({ status: 'inactive', status_reason: 'Bad answers' });
    const off = await c.config(f.name, token, 'production', etag).expect(200);
    expect(off.body).toMatchObject({ status: 'inactive', status_reason: 'Bad answers' });
    expect(await c.audits(f.id)).toHaveLength(1);
  });

  it('when htmx turns production off, then the panel comes back with the confirmation (200) in place of the status form, and Cancel links back to the tab', async () => {
    const { f } = await c.serving();
    const res = await c.post(f.name, { status: 'maintenance', status_reason: 'Deploy' }).set(hx).expect(200);
    const $ = fragment(res.text, 'feature-panel');
    expect($('#status-confirmation form').attr('hx-post')).toBe(`/platform/ai-management/features/${f.name}/settings`);
    expect($('#status-form')).toHaveLength(0);
    const cancel = new URL($('#status-confirmation a:contains("Cancel")').attr('href')!, 'http://x');
    expect([cancel.pathname, cancel.searchParams.get('feature'), cancel.searchParams.get('tab')]).toEqual([PATH, f.name, 'settings']);
    expect((await c.feature(f.id)).status).toBe('active');
  });

  it('when a feature turned off is made active again, then its reason and restore time go with it', async () => {
    const f = await makeFeature(c.t.db, {
      status: 'maintenance',
      status_reason: 'Upgrade',
      restore_at: new Date(Date.now() + 60 * MINUTE),
    });
    await c.post(f.name, { status: 'active', status_reason: 'Upgrade', restore_at: '' }).expect(303);
    expect(await c.feature(f.id)).toMatchObject({ status: 'active', status_reason: null, restore_at: null });
  });
});

describe('jobs/restore-status run()', () => {
  it('when the restore time comes (injected clock), then the feature is active again, audited as the system, and a second run does nothing', async () => {
    const at = new Date(Date.now() + 30 * MINUTE);
    const f = await makeFeature(c.t.db, { status: 'maintenance', status_reason: 'Window', restore_at: at });
    const later = await makeFeature(c.t.db, { status: 'inactive', status_reason: 'Later', restore_at: new Date(at.getTime() + MINUTE) });

    expect(await restoreStatus({ db: c.t.db, now: new Date(at.getTime() - 1) })).toMatchObject({ ran: true });
    expect((await c.feature(f.id)).status).toBe('maintenance');

    await restoreStatus({ db: c.t.db, now: at });
    expect(await c.feature(f.id)).toMatchObject({ status: 'active', status_reason: null, restore_at: null });
    expect((await c.feature(later.id)).status).toBe('inactive');
    expect(await c.audits(f.id)).toEqual([
      {
        action: 'feature.status_restored',
        actor_type: 'system',
        actor_label: 'restore-status job',
        before: { status: 'maintenance', status_reason: 'Window', restore_at: at.toISOString() },
        after: { status: 'active', status_reason: null, restore_at: null },
      },
    ]);
    await restoreStatus({ db: c.t.db, now: at });
    expect(await c.audits(f.id)).toHaveLength(1);
    await c.t.db('ai_features').where({ id: later.id }).update({ status: 'active', status_reason: null, restore_at: null });
  });
});

describe('over budget in the runtime config', () => {
  it("when the action is flag and this month's spend reaches the budget, then over_budget is true (with notify, never) and the ETag changes", async () => {
    const mini = (await modelsByName(c.t.db)).get('gpt-4o-mini')!;
    const f = await makeFeature(c.t.db, { monthly_budget_usd: 1, over_budget_action: 'flag' });
    const { token } = await c.token('read');
    const under = await c.config(f.name, token).expect(200);
    expect(under.body).toMatchObject({ over_budget: false, settings: { monthly_budget_usd: 1, over_budget_action: 'flag' } });

    // $0.60 and $0.40 this month: $1.00, the budget exactly.
    await insertUsage(c.t.db, [
      { feature_id: f.id, model: mini, created_at: new Date(), input_cost_units: 60_000_000, output_cost_units: 0 },
      { feature_id: f.id, model: mini, created_at: new Date(), environment: 'staging', input_cost_units: 40_000_000, output_cost_units: 0 },
    ]);
    const over = await c.config(f.name, token, 'production', under.headers.etag).expect(200);
    expect(over.body.over_budget).toBe(true);
    expect(over.headers.etag).not.toBe(under.headers.etag);
    expect(text((await c.tab(f.name))('#budget-spend'))).toBe("This month's spend: $1.00 of a $1.00 budget over budget");

    await c.post(f.name, { ...DEFAULT_FORM, monthly_budget_usd: '1', over_budget_action: 'notify' }).expect(303);
    expect((await c.config(f.name, token).expect(200)).body.over_budget).toBe(false);
  });
});
