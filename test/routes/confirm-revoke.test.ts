import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken } from '../setup/factories.ts';
import { text } from '../setup/html.ts';
import { signInAs } from '../setup/session.ts';

// Issue 13 item 9: revoking an API key stops every client using it at once, so the Revoke button asks
// first. The first post answers 200 naming the key and its scope; only the re-post with confirm=yes revokes.

let t: TestContext;
let admin: Awaited<ReturnType<typeof signInAs>>;
beforeAll(async () => {
  t = startTestApp();
  admin = await signInAs(t, 'admin');
});
afterAll(() => t.close());

const PATH = '/platform/ai-management/api-keys';

describe('POST /platform/ai-management/api-keys/:id/revoke (the confirmation step)', () => {
  it('when posted without confirm=yes, then 200 names the key, its scope and that clients stop at once; the key still works and nothing is audited', async () => {
    const { key, token } = await makeToken(t.db, 'ingest');
    const res = await admin.agent.post(`${PATH}/${key.id}/revoke`).type('form').send({ _csrf: admin.csrf }).expect(200);
    const $ = cheerio.load(res.text);
    expect(text($('#confirmation-title'))).toBe(`Revoke the API key “${key.name}”?`);
    expect(text($('#confirmation dl dd').last())).toBe('ingest');
    expect(text($('#confirmation .notice'))).toContain('Clients using it stop at once');
    expect($('#confirmation form').attr('action')).toBe(`${PATH}/${key.id}/revoke`);
    expect($('#confirmation form input[name="confirm"]').val()).toBe('yes');
    expect($('#confirmation form input[name="_csrf"]').val()).toBe(admin.csrf);
    expect($('#confirmation a:contains("Cancel")').attr('href')).toBe(PATH);

    expect((await t.db('api_keys').where({ id: key.id }).first())!.revoked_at).toBeNull();
    expect(await t.db('audit_log').where({ entity_id: key.id, action: 'api_key.revoked' })).toEqual([]);
    await request(t.app)
      .post('/api/v1/usage')
      .set('Authorization', `Bearer ${token}`)
      .send({})
      .expect((r) => expect(r.status).not.toBe(401));

    await admin.agent.post(`${PATH}/${key.id}/revoke`).type('form').send({ _csrf: admin.csrf, confirm: 'yes' }).expect(303);
    expect((await t.db('api_keys').where({ id: key.id }).first())!.revoked_at).not.toBeNull();
    await request(t.app).post('/api/v1/usage').set('Authorization', `Bearer ${token}`).send({}).expect(401);
  });
});
