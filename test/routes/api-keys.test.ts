import crypto from 'node:crypto';
import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser, suffix } from '../setup/factories.ts';
import { type Agent, csrfFor, signIn, signInAs } from '../setup/session.ts';

let t: TestContext;
let admin: Agent;
let adminId: string;
beforeAll(async () => {
  t = startTestApp();
  const user = await makeUser(t.db, 'admin');
  adminId = user.id;
  admin = await signIn(t.app, user.email, user.password);
});
afterAll(() => t.close());

const PATH = '/platform/ai-management/api-keys';

describe('POST /platform/ai-management/api-keys', () => {
  it('when an admin creates a key, then the token is shown once, stored only as a hash, and works on the API', async () => {
    const name = `ci ${suffix()}`;
    const res = await admin
      .post(PATH)
      .type('form')
      .send({ name, scope: 'read', _csrf: await csrfFor(admin) })
      .expect(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const token = cheerio.load(res.text)('#new-token').text();
    expect(token).toMatch(/^sb_[A-Za-z0-9_-]{43}$/);
    const row = (await t.db('api_keys').where({ name }).first())!;
    expect(row.scope).toBe('read');
    expect(row.token_hash.equals(crypto.createHash('sha256').update(token).digest())).toBe(true);
    expect(JSON.stringify(row)).not.toContain(token.slice(3));
    await request(t.app).get('/api/platform/ai-management/features').set('Authorization', `Bearer ${token}`).expect(200);
    const list = await admin.get(PATH).expect(200);
    expect(list.text).not.toContain(token);
    expect(cheerio.load(list.text)(`tr[data-key="${row.id}"] th`).text()).toBe(name);
  });

  it('when the name is empty or the scope unknown, then 422 with the errors inline and nothing stored', async () => {
    // Other files create keys meanwhile: what this admin created is what counts.
    const createdByAdmin = () => t.db('audit_log').where({ actor_id: adminId, action: 'api_key.created' }).pluck('entity_id');
    const before = await createdByAdmin();
    const res = await admin
      .post(PATH)
      .type('form')
      .send({ name: '  ', scope: 'root', _csrf: await csrfFor(admin) })
      .expect(422);
    const $ = cheerio.load(res.text);
    expect($('#name-error').text()).toBe('Name is required');
    expect($('#scope-error').text()).toBe('Scope must be one of ingest, read, admin');
    expect(await createdByAdmin()).toEqual(before);
    expect(await t.db('api_keys').where({ name: '  ' }).first()).toBeUndefined();
  });

  it('when the CSRF field is missing, then 403 and nothing stored', async () => {
    const name = `nocsrf ${suffix()}`;
    await admin.post(PATH).type('form').send({ name, scope: 'read' }).expect(403);
    expect(await t.db('api_keys').where({ name }).first()).toBeUndefined();
  });
});

describe('POST /platform/ai-management/api-keys/:id/revoke', () => {
  it('when an admin revokes a key, then 303 with a flash, the token stops working and the audit log says so', async () => {
    const created = await admin
      .post(PATH)
      .type('form')
      .send({ name: `revoke ${suffix()}`, scope: 'read', _csrf: await csrfFor(admin) });
    const token = cheerio.load(created.text)('#new-token').text();
    const key = (await t
      .db('api_keys')
      .where({ prefix: token.slice(0, 10) })
      .first())!;
    await admin
      .post(`${PATH}/${key.id}/revoke`)
      .type('form')
      .send({ _csrf: await csrfFor(admin), confirm: 'yes' })
      .expect(303)
      .expect('location', PATH);
    const page = await admin.get(PATH).expect(200);
    expect(cheerio.load(page.text)('.flash-success').text()).toContain('API key revoked');
    await request(t.app).get('/api/platform/ai-management/features').set('Authorization', `Bearer ${token}`).expect(401);
    const actions = await t.db('audit_log').where({ entity_id: key.id }).orderBy('id').pluck('action');
    expect(actions).toEqual(['api_key.created', 'api_key.revoked']);
  });

  it('when the key does not exist, then 404', async () => {
    await admin
      .post(`${PATH}/${crypto.randomUUID()}/revoke`)
      .type('form')
      .send({ _csrf: await csrfFor(admin) })
      .expect(404);
    await admin
      .post(`${PATH}/not-a-uuid/revoke`)
      .type('form')
      .send({ _csrf: await csrfFor(admin) })
      .expect(404);
  });

  it('when a viewer looks at the page, then there is no create form and no revoke button', async () => {
    const { agent } = await signInAs(t, 'viewer');
    const $ = cheerio.load((await agent.get(PATH).expect(200)).text);
    expect($('form[action="/platform/ai-management/api-keys"]')).toHaveLength(0);
    expect($('button.danger')).toHaveLength(0);
  });
});
