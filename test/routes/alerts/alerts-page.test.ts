import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeFeature, makeToken, suffix } from '../../setup/factories.ts';
import { getPage, text } from '../../setup/html.ts';
import { type Agent, signInAs } from '../../setup/session.ts';
import { insertUsage, modelsByName } from '../../setup/usage-factory.ts';

// The Alerts page and an alert's page (issue 17, SPEC §10.4): plain forms (303 after a write, 422
// with the form again), admins only, audited; the JSON API beside them.

const PAGE = '/platform/ai-management/alerts';
const API = '/api/platform/ai-management';

let t: TestContext;
let admin: { agent: Agent; csrf: string };
let viewer: { agent: Agent; csrf: string };
let adminToken: string;

beforeAll(async () => {
  t = startTestApp();
  admin = await signInAs(t, 'admin');
  viewer = await signInAs(t, 'viewer');
  adminToken = (await makeToken(t.db, 'admin')).token;
});
afterAll(() => t.close());

/** A feature with a firing error-rate alert of its own rule. */
async function firingAlert() {
  const feature = await makeFeature(t.db);
  const [rule] = await t
    .db('alert_rules')
    .insert({ feature_id: feature.id, environment: 'production', kind: 'error_rate', threshold: 10, created_by: 'test' })
    .returning('*');
  const at = new Date('2026-11-20T10:00:00Z');
  const [alert] = await t
    .db('alerts')
    .insert({
      rule_id: rule!.id,
      feature_id: feature.id,
      state: 'firing',
      since: at,
      started_at: at,
      evaluated_at: at,
      last_value: 20,
      last_sample_n: 50,
      last_notified_at: at,
    })
    .returning('*');
  await t.db('alert_events').insert([
    {
      alert_id: alert!.id,
      kind: 'transition',
      from_state: 'ok',
      to_state: 'pending',
      value: 20,
      threshold: 10,
      sample_n: 50,
      at: new Date(at.getTime() - 240_000),
    },
    { alert_id: alert!.id, kind: 'transition', from_state: 'pending', to_state: 'firing', value: 20, threshold: 10, sample_n: 50, at },
  ]);
  return { feature, rule: rule!, alert: alert! };
}

const audits = (action: string, entityId: string) => t.db('audit_log').where({ action, entity_id: entityId });

describe('GET /platform/ai-management/alerts', () => {
  it('when an alert is firing, then it is listed open with its reading, and the navigation counts it', async () => {
    const { feature, alert } = await firingAlert();
    const $ = await getPage(viewer.agent, PAGE);
    const row = $(`tr[data-alert="${alert.id}"]`);
    expect(text(row.find('th'))).toBe(feature.name);
    expect(text(row.find('td[data-label="What"]'))).toBe('Error rate 20.0% (threshold 10.0%) over 5 min, 50 requests');
    expect(text($('nav[aria-label="Main"] a[href="/platform/ai-management/alerts"]'))).toMatch(/^Alerts \(\d+ firing\)$/);
    // A viewer reads, and is offered no form.
    expect($('main form[method="post"]').length).toBe(0);
  });

  it('when asked for a table as CSV, then that table comes as CSV', async () => {
    const { alert } = await firingAlert();
    const res = await viewer.agent.get(`${PAGE}?table=open&format=csv`).expect(200);
    expect(res.headers['content-type']).toMatch(/text\/csv/);
    const [header, ...lines] = res.text.trim().split('\r\n');
    expect(header).toBe('alert_id,feature,kind,environment,severity,state,since,value,threshold,sample_n,acked_by,ack_note');
    expect(lines.some((l) => l.startsWith(`${alert.id},`))).toBe(true);
  });
});

describe('open alerts elsewhere', () => {
  it('when an alert is firing, then the overview lists it with a link to it, and its feature card says so', async () => {
    const { feature, alert } = await firingAlert();
    const $ = await getPage(viewer.agent, '/platform/ai-management');
    const item = $(`#overview-open-alerts li[data-alert="${alert.id}"]`);
    expect(text(item)).toBe(`firing ${feature.display_name}: Error rate 20.0% (threshold 10.0%) over 5 min, 50 requests in production`);
    expect(item.find('a').attr('href')).toBe(`${PAGE}/${alert.id}`);
    const cards = await getPage(viewer.agent, '/platform/ai-management/features');
    expect(text(cards(`a.feature-card[data-feature="${feature.name}"] [data-alerts-firing]`))).toBe('Alerts firing: 1');
    const panel = await getPage(viewer.agent, `/platform/ai-management/features?feature=${feature.name}&tab=settings`);
    expect(text(panel('#feature-alerts'))).toMatch(/^Open alerts: Error rate \(firing in production since .+\)$/);
    expect(panel('#feature-alerts a').attr('href')).toBe(`${PAGE}/${alert.id}`);
  });
});

describe('budgets', () => {
  it('a feature with a budget is listed with its spend this month; the API answers the same figures', async () => {
    const feature = await makeFeature(t.db, { monthly_budget_usd: 200 });
    const model = [...(await modelsByName(t.db)).values()][0]!;
    await insertUsage(t.db, [
      { feature_id: feature.id, model, created_at: new Date(Date.now() - 60_000), input_cost_units: 50e8, output_cost_units: 0 },
    ]);
    const $ = await getPage(viewer.agent, PAGE);
    expect(text($(`#budgets tr[data-feature="${feature.name}"] td[data-label="Used"]`))).toBe('25% ($50.00 of $200.00)');
    const api = await request(t.app).get(`${API}/budgets`).set('Authorization', `Bearer ${adminToken}`).expect(200);
    expect(api.body.data.find((b: { feature: string }) => b.feature === feature.name)).toMatchObject({
      budget: 200,
      mtd: 50,
      used_pct: 25,
      marks: [],
    });
  });
});

describe('POST /platform/ai-management/alerts/rules', () => {
  it('when an admin adds a rule, then it is stored with its fields, audited, and listed', async () => {
    const feature = await makeFeature(t.db);
    await admin.agent
      .post(`${PAGE}/rules`)
      .type('form')
      .send({
        _csrf: admin.csrf,
        feature: feature.name,
        environment: 'staging',
        kind: 'p95_latency',
        threshold: '1500',
        resolve_threshold: '1200',
        window_minutes: '10',
        for_minutes: '3',
        min_requests: '20',
        no_data: 'ok',
        severity: 'critical',
      })
      .expect(303)
      .expect('Location', PAGE);
    const rule = (await t.db('alert_rules').where({ feature_id: feature.id, is_default: false }).first())!;
    expect(rule).toMatchObject({
      environment: 'staging',
      kind: 'p95_latency',
      threshold: 1500,
      resolve_threshold: 1200,
      window_min: 10,
      for_min: 3,
      min_requests: 20,
      no_data: 'ok',
      severity: 'critical',
    });
    expect(await audits('alert_rule.created', rule.id)).toHaveLength(1);
    const $ = await getPage(admin.agent, PAGE);
    expect(text($(`tr[data-rule="${rule.id}"] td[data-label="Threshold"]`))).toBe('1,500 ms');
  });

  it('when an admin disables a rule with a firing alert, then the alert closes in its history and leaves the open list', async () => {
    const { rule, alert } = await firingAlert();
    await admin.agent.post(`${PAGE}/rules/${rule.id}/toggle`).type('form').send({ _csrf: admin.csrf }).expect(303);
    expect((await t.db('alert_rules').where({ id: rule.id }).first())!.enabled).toBe(false);
    expect((await t.db('alerts').where({ id: alert.id }).first())!.state).toBe('ok');
    const $ = await getPage(admin.agent, PAGE);
    expect($(`tr[data-alert="${alert.id}"]`)).toHaveLength(0);
    const page = await getPage(admin.agent, `${PAGE}/${alert.id}`);
    expect(text(page('#alert-timeline li').first())).toMatch(/firing → ok \(rule disabled by .+\)$/);
    expect(await audits('alert_rule.updated', rule.id)).toHaveLength(1);
  });

  it('when the threshold is invalid or the resolve threshold is on the wrong side, then 422 names the field and nothing is stored', async () => {
    const feature = await makeFeature(t.db);
    const res = await admin.agent
      .post(`${PAGE}/rules`)
      .type('form')
      .send({ _csrf: admin.csrf, feature: feature.name, kind: 'error_rate', threshold: '-1' })
      .expect(422);
    expect(text(cheerio.load(res.text)('#rule-threshold-error'))).toBe('Threshold must be 0 or more');
    const band = await admin.agent
      .post(`${PAGE}/rules`)
      .type('form')
      .send({ _csrf: admin.csrf, feature: feature.name, kind: 'error_rate', threshold: '5', resolve_threshold: '8' })
      .expect(422);
    expect(text(cheerio.load(band.text)('#rule-resolve_threshold-error'))).toBe('Resolve threshold must be at most the threshold');
    expect(await t.db('alert_rules').where({ feature_id: feature.id })).toHaveLength(0);
  });

  it('when a viewer posts a rule, a silence or a channel, then 403 and nothing is stored', async () => {
    const feature = await makeFeature(t.db);
    await viewer.agent
      .post(`${PAGE}/rules`)
      .type('form')
      .send({ _csrf: viewer.csrf, feature: feature.name, kind: 'error_rate', threshold: '5' })
      .expect(403);
    await viewer.agent
      .post(`${PAGE}/silences`)
      .type('form')
      .send({ _csrf: viewer.csrf, feature: feature.name, hours: '1', reason: 'x' })
      .expect(403);
    await viewer.agent
      .post(`${API}/alert-rules`)
      .send({ feature: feature.name, kind: 'error_rate', threshold: 5 })
      .set('X-CSRF-Token', viewer.csrf)
      .expect(403);
    expect(await t.db('alert_rules').where({ feature_id: feature.id })).toHaveLength(0);
    expect(await t.db('silences').where({ feature_id: feature.id })).toHaveLength(0);
  });

  it('without the CSRF token, then the write is refused and nothing is stored', async () => {
    const feature = await makeFeature(t.db);
    const res = await admin.agent.post(`${PAGE}/rules`).type('form').send({ feature: feature.name, kind: 'error_rate', threshold: '5' });
    expect(res.status).toBe(403);
    expect(await t.db('alert_rules').where({ feature_id: feature.id })).toHaveLength(0);
  });
});

describe("an alert's page", () => {
  it('shows the timeline; acknowledging with a note records it, audits it and shows who', async () => {
    const { alert } = await firingAlert();
    let $ = await getPage(admin.agent, `${PAGE}/${alert.id}`);
    expect(
      $('#alert-timeline li')
        .map((_i, li) => text($(li)))
        .get()[0],
    ).toMatch(/pending → firing \(20\.0%, 50 requests\)$/);
    await admin.agent
      .post(`${PAGE}/${alert.id}/ack`)
      .type('form')
      .send({ _csrf: admin.csrf, note: 'looking at the provider' })
      .expect(303)
      .expect('Location', `${PAGE}/${alert.id}`);
    const row = (await t.db('alerts').where({ id: alert.id }).first())!;
    expect(row.ack_note).toBe('looking at the provider');
    expect(row.acked_at).not.toBeNull();
    expect(await audits('alert.acknowledged', alert.id)).toHaveLength(1);
    $ = await getPage(admin.agent, `${PAGE}/${alert.id}`);
    expect(text($('#alert-timeline li').first())).toMatch(/acknowledged by .*: looking at the provider$/);
  });

  it('silencing it for 4 hours makes a silence matching its feature, kind and environment; no reason → 422', async () => {
    const { alert, feature } = await firingAlert();
    const res = await admin.agent
      .post(`${PAGE}/${alert.id}/silence`)
      .type('form')
      .send({ _csrf: admin.csrf, hours: '4', reason: '' })
      .expect(422);
    expect(text(cheerio.load(res.text)('#silence-reason-error'))).toBe('Reason is required');
    await admin.agent
      .post(`${PAGE}/${alert.id}/silence`)
      .type('form')
      .send({ _csrf: admin.csrf, hours: '4', reason: 'provider incident' })
      .expect(303);
    const silence = (await t.db('silences').where({ feature_id: feature.id }).first())!;
    expect(silence).toMatchObject({ kind: 'error_rate', environment: 'production', reason: 'provider incident' });
    expect(silence.ends_at.getTime() - silence.starts_at.getTime()).toBe(4 * 3_600_000);
  });
});

describe('POST /platform/ai-management/alerts/silences', () => {
  it('when an end time is given from the form, then it is read as UTC; matchers left empty match anything', async () => {
    const feature = await makeFeature(t.db);
    await admin.agent
      .post(`${PAGE}/silences`)
      .type('form')
      .send({
        _csrf: admin.csrf,
        feature: feature.name,
        environment: '',
        kind: '',
        severity: '',
        hours: '',
        until: '2030-01-01T10:00',
        reason: 'migration',
      })
      .expect(303);
    const silence = (await t.db('silences').where({ feature_id: feature.id }).first())!;
    expect(silence).toMatchObject({ environment: null, kind: null, severity: null, reason: 'migration' });
    expect(silence.ends_at.toISOString()).toBe('2030-01-01T10:00:00.000Z');
    const past = await admin.agent
      .post(`${PAGE}/silences`)
      .type('form')
      .send({ _csrf: admin.csrf, until: '2020-01-01T10:00', reason: 'x' })
      .expect(422);
    expect(text(cheerio.load(past.text)('#silence-until-error'))).toBe('Until must be in the future');
  });
});

describe('notification channels', () => {
  it('when the URL points to a metadata address, then 422 on the URL; a valid one stores the secret sealed and never shows it', async () => {
    const bad = await admin.agent
      .post(`${PAGE}/channels`)
      .type('form')
      .send({ _csrf: admin.csrf, name: `c-${suffix()}`, kind: 'webhook', url: 'http://169.254.169.254/hook' })
      .expect(422);
    expect(text(cheerio.load(bad.text)('#channel-url-error'))).toBe('URL must not point to a link-local or cloud metadata address');
    const name = `ops-${suffix()}`;
    const secret = `s3cret-${suffix()}-${suffix()}`;
    await admin.agent
      .post(`${PAGE}/channels`)
      .type('form')
      .send({ _csrf: admin.csrf, name, kind: 'webhook', url: 'http://127.0.0.1:9/hook', secret })
      .expect(303);
    const row = (await t.db('notification_channels').where({ name }).first())!;
    expect(row.secret_ciphertext!.toString('utf8')).not.toContain(secret);
    const page = await admin.agent.get(PAGE).expect(200);
    expect(page.text).not.toContain(secret);
    const api = await request(t.app).get(`${API}/notification-channels`).set('Authorization', `Bearer ${adminToken}`).expect(200);
    expect(JSON.stringify(api.body)).not.toContain(secret);
    expect(api.body.data.find((c: { name: string }) => c.name === name)).toMatchObject({ has_secret: true });
  });
});

describe('test send and resend', () => {
  it('Test send queues a test message to the channel; Resend puts a failed delivery back in line under its id; a delivered one is refused', async () => {
    const [ch] = await t
      .db('notification_channels')
      .insert({ name: `t-${suffix()}`, kind: 'webhook', url: 'http://127.0.0.1:9/hook', created_by: 'test' })
      .returning('id');
    await admin.agent.post(`${PAGE}/channels/${ch!.id}/test`).type('form').send({ _csrf: admin.csrf }).expect(303);
    const test = (await t.db('notification_deliveries').where({ channel_id: ch!.id }).first())!;
    expect(test).toMatchObject({ status: 'pending', attempts: 0 });
    expect(test.payload.notice).toBe('test');
    expect(await audits('channel.tested', ch!.id)).toHaveLength(1);

    await t.db('notification_deliveries').where({ id: test.id }).update({ status: 'failed', attempts: 6, last_status_code: 500 });
    await admin.agent.post(`${PAGE}/deliveries/${test.id}/resend`).type('form').send({ _csrf: admin.csrf }).expect(303);
    expect((await t.db('notification_deliveries').where({ id: test.id }).first())!.status).toBe('pending');
    expect(await audits('delivery.resent', test.id)).toHaveLength(1);

    await t.db('notification_deliveries').where({ id: test.id }).update({ status: 'delivered' });
    const refused = await request(t.app)
      .post(`${API}/deliveries/${test.id}/resend`)
      .set('Authorization', `Bearer ${adminToken}`)
      .expect(409);
    expect(refused.body.error).toBe('Only a failed or silenced delivery can be sent again: this one is delivered');
    const failed = await request(t.app).get(`${API}/deliveries?status=delivered`).set('Authorization', `Bearer ${adminToken}`).expect(200);
    expect(failed.body.data.map((d: { id: string }) => d.id)).toContain(test.id);
  });
});

describe('JSON API', () => {
  it('POST /alert-rules, PATCH, GET /alerts?state=firing and POST /alerts/:id/ack', async () => {
    const feature = await makeFeature(t.db);
    const auth = { Authorization: `Bearer ${adminToken}` };
    const created = await request(t.app)
      .post(`${API}/alert-rules`)
      .set(auth)
      .send({
        feature: feature.id,
        kind: 'traffic_below',
        threshold: 10,
        window_minutes: 15,
        for_minutes: 15,
        severity: 'info',
        channels: [],
      })
      .expect(201);
    expect(created.body.data).toMatchObject({
      feature_id: feature.id,
      kind: 'traffic_below',
      threshold: 10,
      window_minutes: 15,
      for_minutes: 15,
      resolve_for_minutes: 15,
      severity: 'info',
    });
    const unknown = await request(t.app)
      .post(`${API}/alert-rules`)
      .set(auth)
      .send({ kind: 'error_rate', threshold: 5, colour: 'red' })
      .expect(422);
    expect(unknown.body.details).toEqual({ colour: 'is not a field that can be set' });
    await request(t.app).patch(`${API}/alert-rules/${created.body.data.id}`).set(auth).send({ enabled: false }).expect(200);
    expect((await t.db('alert_rules').where({ id: created.body.data.id }).first())!.enabled).toBe(false);

    const { alert } = await firingAlert();
    const firing = await request(t.app).get(`${API}/alerts?state=firing`).set(auth).expect(200);
    expect(firing.body.data.map((a: { id: string }) => a.id)).toContain(alert.id);
    await request(t.app).post(`${API}/alerts/${alert.id}/ack`).set(auth).send({ note: 'mine' }).expect(200);
    expect((await t.db('alert_events').where({ alert_id: alert.id, kind: 'ack' }).first())!.note).toBe('mine');
  });
});
