import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeToken, suffix } from '../setup/factories.ts';
import type { AuditRecord, FeatureRecord } from '../setup/rows.ts';
import { csrfFor, signInAs } from '../setup/session.ts';

let t: TestContext;
beforeAll(() => {
  t = startTestApp();
});
afterAll(() => t.close());

const PAGES = [
  '/platform/ai-management',
  '/platform/ai-management/features',
  '/platform/ai-management/models',
  '/platform/ai-management/audit',
  '/platform/ai-management/api-keys',
];
const FEATURES_API = '/api/platform/ai-management/features';

describe('without a session', () => {
  it.each(PAGES)('when %s is requested, then it redirects to /login with the page to come back to', async (path) => {
    const res = await request(t.app).get(path).expect(303);
    expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(path)}`);
  });

  it('when htmx asks for a page, then it answers 401 with HX-Redirect to /login', async () => {
    const res = await request(t.app).get('/platform/ai-management/features').set('HX-Request', 'true').expect(401);
    expect(res.headers['hx-redirect']).toBe('/login?next=%2Fplatform%2Fai-management%2Ffeatures');
    expect(res.text).toBe('');
  });

  it('when the API is called, then it answers 401 in the JSON error shape', async () => {
    const res = await request(t.app).get(FEATURES_API).expect(401);
    expect(res.body).toEqual({ success: false, error: 'Authentication required' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it('when the login page, health check and static assets are requested, then they are served', async () => {
    await request(t.app).get('/login').expect(200);
    await request(t.app).get('/healthz').expect(200);
    await request(t.app).get('/static/css/app.css').expect(200).expect('content-type', /css/);
    await request(t.app)
      .get('/static/vendor/htmx.min.js')
      .expect(200)
      .expect('content-type', /javascript/);
    await request(t.app).get('/static/vendor/chartist.umd.js').expect(200);
  });

  it('when an unknown path is requested, then it still asks for a session first', async () => {
    await request(t.app).get('/no/such/page').expect(303);
    await request(t.app).get('/API/platform/ai-management/features').expect(303);
  });

  it('when a vendor asset name is not one we serve, then 404, even for names every object has', async () => {
    for (const name of ['constructor', '__proto__', 'hasOwnProperty', 'nope.js']) {
      await request(t.app).get(`/static/vendor/${name}`).expect(404);
    }
  });
});

describe('bearer tokens on /api', () => {
  it('when a read token lists features, then it gets them', async () => {
    const { token } = await makeToken(t.db, 'read');
    const res = await request(t.app).get(FEATURES_API).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body.success).toBe(true);
    expect(res.body.data.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['photo-tagging', 'chatbot', 'ai-search']));
  });

  it('when an ingest token reads the console API, then it is refused with 403', async () => {
    const { token } = await makeToken(t.db, 'ingest');
    const res = await request(t.app).get(FEATURES_API).set('Authorization', `Bearer ${token}`).expect(403);
    expect(res.body).toMatchObject({ success: false, error: 'This token may not read this API' });
  });

  it('when a read token tries a write, then it is refused with 403 and nothing is written', async () => {
    const { token } = await makeToken(t.db, 'read');
    const name = `feat-${suffix()}`;
    await request(t.app)
      .post(FEATURES_API)
      .set('Authorization', `Bearer ${token}`)
      .send({ name, display_name: 'X', required_model_type: 'llm' })
      .expect(403);
    expect(await t.db('ai_features').where({ name }).first()).toBeUndefined();
  });

  it('when an admin token writes, then no CSRF token is needed and the change is audited to the token', async () => {
    const { key, token } = await makeToken(t.db, 'admin');
    const name = `feat-${suffix()}`;
    const res = await request(t.app)
      .post(FEATURES_API)
      .set('Authorization', `Bearer ${token}`)
      .send({ name, display_name: 'Receipt reader', required_model_type: 'vision' })
      .expect(201);
    expect(res.body.data).toMatchObject({ name, display_name: 'Receipt reader', status: 'active', current_model: null });
    const audit = await t.db('audit_log').where({ action: 'feature.created', entity_id: res.body.data.id }).first();
    expect(audit).toMatchObject({ actor_type: 'token', actor_id: key.id });
  });

  it('when the token is unknown, malformed or revoked, then it answers 401', async () => {
    const { key, token } = await makeToken(t.db, 'admin');
    await t.db('api_keys').where({ id: key.id }).update({ revoked_at: new Date() });
    for (const header of [`Bearer ${token}`, 'Bearer sb_nope', `Basic ${token}`, 'Bearer']) {
      const res = await request(t.app).get(FEATURES_API).set('Authorization', header);
      expect(res.status, header).toBe(401);
      expect(res.body.success).toBe(false);
    }
  });

  it('when a token is used, then its last use is recorded', async () => {
    const { key, token } = await makeToken(t.db, 'read');
    await request(t.app).get(FEATURES_API).set('Authorization', `Bearer ${token}`).expect(200);
    const row = (await t.db('api_keys').where({ id: key.id }).first('last_used_at'))!;
    expect(row.last_used_at).toBeInstanceOf(Date);
  });
});

describe('roles', () => {
  it('when a viewer posts a write with a valid CSRF token, then it is refused with 403 and nothing is written', async () => {
    const { user: viewer, agent } = await signInAs(t, 'viewer');
    const csrf = await csrfFor(agent);
    const name = `viewer-key-${suffix()}`;
    const feature = `f-${suffix()}`;
    const page = await agent.post('/platform/ai-management/api-keys').type('form').send({ name, scope: 'read', _csrf: csrf });
    expect(page.status).toBe(403);
    const api = await agent
      .post(FEATURES_API)
      .set('X-CSRF-Token', csrf)
      .send({ name: feature, display_name: 'X', required_model_type: 'llm' });
    expect(api.status).toBe(403);
    expect(await t.db('api_keys').where({ name }).first()).toBeUndefined();
    expect(await t.db('ai_features').where({ name: feature }).first()).toBeUndefined();
    expect(await t.db('audit_log').where({ actor_id: viewer.id })).toEqual([]);
  });

  it('when an admin session writes through the API without the CSRF header, then it is refused with 403', async () => {
    const { agent } = await signInAs(t, 'admin');
    const name = `feat-${suffix()}`;
    const res = await agent.post(FEATURES_API).send({ name, display_name: 'X', required_model_type: 'llm' });
    expect(res.status).toBe(403);
    expect(res.body.success).toBe(false);
    expect(await t.db('ai_features').where({ name }).first()).toBeUndefined();
  });

  it('when an admin session writes through the API with the CSRF header, then it succeeds: the row is stored and audited to the admin', async () => {
    const { user: admin, agent } = await signInAs(t, 'admin');
    const name = `feat-${suffix()}`;
    const res = await agent
      .post(FEATURES_API)
      .set('X-CSRF-Token', await csrfFor(agent))
      .send({ name, display_name: 'X', required_model_type: 'llm' })
      .expect(201);
    const row: FeatureRecord = (await t.db('ai_features').where({ name }).first())!;
    expect(row).toMatchObject({ id: res.body.data.id, display_name: 'X', required_model_type: 'llm', status: 'active' });
    const audit: AuditRecord[] = await t.db('audit_log').where({ entity_type: 'feature', entity_id: row.id });
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'feature.created',
        actor_type: 'user',
        actor_id: admin.id,
        actor_label: admin.email,
        after: expect.objectContaining({ name }),
      }),
    ]);
  });
});

describe('GET /api/platform/ai-management/features/:id', () => {
  it('when the feature exists, then it is found by slug and by id; when not, then 404', async () => {
    const { token } = await makeToken(t.db, 'read');
    const auth = { Authorization: `Bearer ${token}` };
    const bySlug = await request(t.app).get(`${FEATURES_API}/chatbot`).set(auth).expect(200);
    await request(t.app).get(`${FEATURES_API}/${bySlug.body.data.id}`).set(auth).expect(200);
    const missing = await request(t.app).get(`${FEATURES_API}/no-such-feature`).set(auth).expect(404);
    expect(missing.body).toMatchObject({ success: false, error: 'Feature not found' });
  });

  it('when a feature is posted with invalid fields, then it answers 422 with field errors and writes nothing', async () => {
    const { key, token } = await makeToken(t.db, 'admin');
    const res = await request(t.app)
      .post(FEATURES_API)
      .set('Authorization', `Bearer ${token}`)
      .send({ name: 'Bad Slug!', display_name: '', required_model_type: 'audio' })
      .expect(422);
    expect(res.body.success).toBe(false);
    expect(Object.keys(res.body.details).sort()).toEqual(['display_name', 'name', 'required_model_type']);
    expect(await t.db('ai_features').where({ name: 'Bad Slug!' }).first()).toBeUndefined();
    expect(await t.db('audit_log').where({ actor_id: key.id })).toEqual([]);
  });

  it('when the name is taken, then it answers 409 and nothing is written: the feature of that name is left as it was', async () => {
    const { key, token } = await makeToken(t.db, 'admin');
    const before: FeatureRecord[] = await t.db('ai_features').where({ name: 'chatbot' });
    expect(before).toHaveLength(1);
    const res = await request(t.app)
      .post(FEATURES_API)
      .set('Authorization', `Bearer ${token}`)
      .send({ name: 'chatbot', display_name: 'Again', required_model_type: 'vision' })
      .expect(409);
    expect(res.body.success).toBe(false);
    expect(await t.db('ai_features').where({ name: 'chatbot' })).toEqual(before);
    expect(await t.db('audit_log').where({ actor_id: key.id })).toEqual([]);
  });
});
