import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { run as evaluate } from '../../src/jobs/alerts.ts';
import { run } from '../../src/jobs/deliveries.ts';
import { createProviders, type Providers } from '../../src/providers/index.ts';
import { TEST_SECRETS_KEY, testConfig } from '../setup/app.ts';
import { makeFeature, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelsByName } from '../setup/usage-factory.ts';
import { type Receiver, webhookReceiver } from '../setup/webhook-receiver.ts';

// The notification outbox (issue 17, SPEC §10.4) against a local receiver, with an injected clock:
// signed bodies, one delivery id across retries, backoff and Retry-After, one delivery in flight per
// channel, redirects not followed. Its own database: the job sends every due delivery there is.

let db: Db;
let drop: () => Promise<void>;
let providers: Providers;
let model: ModelRef;
const receivers: Receiver[] = [];

beforeAll(async () => {
  ({ db, drop } = await ownSeededDatabase('deliveries'));
  providers = createProviders({ secretsKey: TEST_SECRETS_KEY, timeoutMs: 5000, allowedPrivate: testConfig().providerAllowedPrivate });
  model = [...(await modelsByName(db)).values()][0]!;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await providers?.close();
  await db?.destroy();
  await drop?.();
});

async function receiver(...answers: { status: number; headers?: Record<string, string> }[]) {
  const r = await webhookReceiver(answers.length ? answers : undefined);
  receivers.push(r);
  return r;
}

async function channel(url: string, fields: { kind?: 'webhook' | 'slack'; secret?: string } = {}) {
  const id = crypto.randomUUID();
  await db('notification_channels').insert({
    id,
    name: `c-${suffix()}`,
    kind: fields.kind ?? 'webhook',
    url,
    secret_ciphertext: fields.secret ? providers.sealKey(fields.secret, id) : null,
    created_by: 'test',
  });
  return id;
}

/** A queued delivery on a channel (as the alerts job makes them). */
async function queued(channelId: string, at: Date, notice = 'firing') {
  const [d] = await db('notification_deliveries')
    .insert({ channel_id: channelId, payload: JSON.stringify({ notice, n: suffix() }), next_attempt_at: at, created_at: at })
    .returning('*');
  return d!;
}

const send = (at: number) => run({ db, now: new Date(at), providers });
const verify = (secret: string, r: { headers: Record<string, unknown>; body: string }) =>
  r.headers['x-switchboard-signature'] ===
  `sha256=${crypto.createHmac('sha256', secret).update(`${r.headers['x-switchboard-timestamp']}.${r.body}`).digest('hex')}`;

/** Statements of this database waiting on a row lock. */
const lockWaits = async () =>
  Number(
    (
      await db.raw(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      )
    ).rows[0].n,
  );

let day = 0;
const dayStart = () => Date.UTC(2026, 8, 1) + day++ * DAY;

describe('deliveries job', () => {
  it('when an error-rate alert fires after its "for" minutes, then exactly one signed message reaches the receiver, and one more when it resolves', async () => {
    const t0 = dayStart();
    const r = await receiver();
    const secret = `secret-${suffix()}-${suffix()}`;
    const channelId = await channel(r.url, { secret });
    const feature = await makeFeature(db);
    await db('alert_rules').insert({
      feature_id: feature.id,
      environment: 'production',
      kind: 'error_rate',
      threshold: 10,
      window_min: 1,
      for_min: 5,
      min_requests: 5,
      channel_ids: [channelId],
      created_by: 'test',
    });
    for (let k = 0; k < 12; k++) {
      await insertUsage(
        db,
        Array.from({ length: 10 }, (_v, i) => ({
          feature_id: feature.id,
          model,
          status: k < 6 && i < 2 ? ('error' as const) : ('success' as const),
          created_at: new Date(t0 + k * MINUTE + i * 1000),
        })),
      );
    }
    await db('alert_ticks').delete();
    const bodies: string[] = [];
    for (let k = 1; k <= 12; k++) {
      await evaluate({ db, now: new Date(t0 + k * MINUTE + 5000) });
      await send(t0 + k * MINUTE + 10_000);
      if (k === 4) expect(r.received).toHaveLength(0); // pending: nothing sent yet
      if (k === 5) expect(r.received).toHaveLength(1);
    }
    expect(r.received).toHaveLength(2);
    for (const m of r.received) {
      expect(verify(secret, m)).toBe(true);
      bodies.push(m.body);
    }
    const [firing, resolved] = bodies.map((b) => JSON.parse(b));
    expect(firing).toMatchObject({
      notice: 'firing',
      previous_state: 'pending',
      state: 'firing',
      value: 20,
      threshold: 10,
      feature: { id: feature.id },
    });
    expect(resolved).toMatchObject({ notice: 'resolved', previous_state: 'recovering', state: 'ok' });
    expect(r.received[0]!.headers['x-switchboard-delivery']).toBe(firing.delivery_id);
    expect(await db('notification_deliveries').where({ channel_id: channelId }).pluck('status')).toEqual(['delivered', 'delivered']);
  });

  it('when the receiver fails 3 times and then answers 200, then four attempts carry one delivery id, after the backoff', async () => {
    const t0 = dayStart();
    const r = await receiver({ status: 500 }, { status: 503 }, { status: 500 }, { status: 200 });
    const d = await queued(await channel(r.url), new Date(t0));
    await send(t0);
    await send(t0 + 29_000); // before the first backoff (30 s): nothing
    expect(r.received).toHaveLength(1);
    await send(t0 + 30_000);
    await send(t0 + 30_000 + 120_000);
    let row = (await db('notification_deliveries').where({ id: d.id }).first())!;
    expect(row).toMatchObject({ status: 'pending', attempts: 3, last_status_code: 500 });
    await send(row.next_attempt_at.getTime());
    expect(r.received.map((m) => m.headers['x-switchboard-delivery'])).toEqual([d.id, d.id, d.id, d.id]);
    row = (await db('notification_deliveries').where({ id: d.id }).first())!;
    expect(row).toMatchObject({ status: 'delivered', attempts: 4, last_status_code: 200, last_error: null });
  });

  it('when the receiver answers 429 with Retry-After, then the next attempt waits that long', async () => {
    const t0 = dayStart();
    const r = await receiver({ status: 429, headers: { 'Retry-After': '300' } }, { status: 200 });
    const d = await queued(await channel(r.url), new Date(t0));
    await send(t0);
    expect((await db('notification_deliveries').where({ id: d.id }).first())!.next_attempt_at).toEqual(new Date(t0 + 300_000));
    await send(t0 + 299_000);
    expect(r.received).toHaveLength(1);
  });

  it('when two instances send at once, then a channel has one delivery in flight: one request, the next one after it', async () => {
    const t0 = dayStart();
    const r = await receiver();
    const channelId = await channel(r.url);
    const first = await queued(channelId, new Date(t0));
    const second = await queued(channelId, new Date(t0 + 1));
    await Promise.all([send(t0 + 1000), send(t0 + 1000)]);
    expect(r.received.map((m) => m.headers['x-switchboard-delivery'])).toEqual([first.id]);
    await send(t0 + 2000);
    expect(r.received.map((m) => m.headers['x-switchboard-delivery'])).toEqual([first.id, second.id]);
  });

  it("when another instance's claim commits while this one waits on the delivery, then it is checked again and not sent twice", async () => {
    const t0 = dayStart();
    const r = await receiver();
    const first = await queued(await channel(r.url), new Date(t0));
    // The other instance's claim, held uncommitted: this instance's statement takes its snapshot (the
    // delivery still pending), locks the channel, and then waits on the delivery's row.
    const other = await db.transaction();
    await other('notification_deliveries')
      .where({ id: first.id })
      .update({ status: 'in_flight', attempts: 1, next_attempt_at: new Date(t0 + 1000 + 60_000) });
    const sending = send(t0 + 1000);
    await expect.poll(() => lockWaits(), { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    await other.commit();
    expect(await sending).toEqual({ sent: 0, delivered: 0 });
    expect(r.received).toHaveLength(0);
    expect(await db('notification_deliveries').where({ id: first.id }).first()).toMatchObject({ status: 'in_flight', attempts: 1 });
  });

  it('when the receiver redirects, then the redirect is not followed: it counts as a failed attempt', async () => {
    const t0 = dayStart();
    const elsewhere = await receiver();
    const r = await receiver({ status: 302, headers: { Location: elsewhere.url } });
    const d = await queued(await channel(r.url), new Date(t0));
    await send(t0);
    expect(elsewhere.received).toHaveLength(0);
    expect(await db('notification_deliveries').where({ id: d.id }).first()).toMatchObject({
      status: 'pending',
      last_status_code: 302,
      last_error: 'HTTP 302',
    });
  });

  it('when the channel URL is no longer allowed (a private address the settings do not allow), then nothing is sent and the log says why', async () => {
    const t0 = dayStart();
    const r = await receiver();
    const d = await queued(await channel(r.url), new Date(t0));
    const strict = createProviders({ secretsKey: TEST_SECRETS_KEY, timeoutMs: 5000 });
    await run({ db, now: new Date(t0), providers: strict });
    await strict.close();
    expect(r.received).toHaveLength(0);
    expect((await db('notification_deliveries').where({ id: d.id }).first())!.last_error).toBe(
      'the channel URL must not point to a private or loopback address unless PROVIDER_ALLOWED_PRIVATE allows it',
    );
  });

  it('a Slack channel gets a Slack-compatible body', async () => {
    const t0 = dayStart();
    const r = await receiver();
    await queued(await channel(r.url, { kind: 'slack' }), new Date(t0), 'test');
    await send(t0);
    expect(Object.keys(JSON.parse(r.received[0]!.body))).toEqual(['text']);
  });
});
