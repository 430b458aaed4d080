import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFeature } from '../../setup/factories.ts';
import { openSettingsTab, type SettingsTab } from './setup.ts';

// The restore time of the kill switch as a form gives it (a datetime-local, no offset) is read in the
// console's time zone (TZ_DISPLAY), and shown back in it; the API's ISO time keeps its offset.

let c: SettingsTab;
beforeAll(async () => {
  c = await openSettingsTab({ tzDisplay: 'Asia/Kolkata' });
});
afterAll(() => c?.close());

describe('the restore time in TZ_DISPLAY=Asia/Kolkata (UTC+05:30)', () => {
  it('when the form sends 2099-01-02T09:15, then 03:45 UTC is stored and the field shows 09:15 again; seconds from the API are shown and kept', async () => {
    const f = await makeFeature(c.t.db);
    await c.post(f.name, { status: 'maintenance', status_reason: 'Window', restore_at: '2099-01-02T09:15' }).expect(303);
    expect((await c.feature(f.id)).restore_at).toEqual(new Date('2099-01-02T03:45:00Z'));
    expect((await c.tab(f.name))('#settings-restore_at').val()).toBe('2099-01-02T09:15');

    const { token } = await c.token('admin');
    const api = await request(c.t.app)
      .patch(`/api/platform/ai-management/features/${f.id}`)
      .set('Authorization', `Bearer ${token}`)
      .send({ restore_at: '2099-01-02T10:00:30+01:00' })
      .expect(200);
    expect(api.body.data.restore_at).toBe('2099-01-02T09:00:30.000Z');
    const shown = (await c.tab(f.name))('#settings-restore_at').val() as string;
    expect(shown).toBe('2099-01-02T14:30:30');
    await c.post(f.name, { status: 'maintenance', status_reason: 'Window', restore_at: shown }).expect(303);
    expect(await c.audits(f.id)).toHaveLength(2); // the form, the API; saving the shown time again changed nothing
  });
});
