import crypto from 'node:crypto';
import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { baseUrlProblem } from '../providers/base-url.ts';
import type { Providers } from '../providers/index.ts';
import { postBody } from './webhook-post.ts';

// The outbox's delivery (SPEC §10.4): each channel has at most one delivery in flight, oldest due
// first; a non-2xx answer or no answer is retried after 30 s, 2 min, 10 min, 30 min and 2 h (later
// when Retry-After says so), then the delivery has failed. The delivery id is the same on every attempt.

const SECOND = 1000;
export const BACKOFF_S = [30, 120, 600, 1800, 7200];
/** How long a claimed delivery stays in flight before another instance may take it over (the sender died). */
const LEASE_MS = 60 * SECOND;
export const SEND_TIMEOUT_MS = 10 * SECOND;

type Delivery = Row<'notification_deliveries'>;
type Channel = Row<'notification_channels'>;

/**
 * Claims, per channel with nothing in flight, its oldest due delivery: the channel rows are locked
 * (SKIP LOCKED, so instances take different channels) while the claim is written.
 */
async function claim(db: Db, now: Date): Promise<(Delivery & { channel: Channel })[]> {
  const { rows } = await db.raw(
    `WITH ch AS (
       SELECT c.id FROM notification_channels c
       WHERE NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.channel_id = c.id AND d.status = 'in_flight' AND d.next_attempt_at > :now)
         AND EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.channel_id = c.id AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= :now)
       FOR UPDATE SKIP LOCKED
     ), pick AS (
       SELECT DISTINCT ON (d.channel_id) d.id FROM notification_deliveries d JOIN ch ON ch.id = d.channel_id
       WHERE d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= :now
       ORDER BY d.channel_id, d.created_at, d.id
     )
     UPDATE notification_deliveries d SET status = 'in_flight', attempts = d.attempts + 1, last_attempt_at = :now, next_attempt_at = :lease
     FROM pick
     -- Checked again on the row's latest version: another instance's claim may commit between this
     -- statement's snapshot and its update (it then waits on the row, and must not send it twice).
     WHERE d.id = pick.id AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= :now
     RETURNING d.*`,
    { now: now.toISOString(), lease: new Date(now.getTime() + LEASE_MS).toISOString() },
  );
  const claimed = rows as Delivery[];
  if (!claimed.length) return [];
  const channels = new Map(
    (
      await db('notification_channels').whereIn(
        'id',
        claimed.map((d) => d.channel_id),
      )
    ).map((c) => [c.id, c]),
  );
  return claimed.map((d) => ({ ...d, channel: channels.get(d.channel_id)! }));
}

/** A Slack-compatible message: one line saying what happened, and where to look. */
export function slackText(p: Record<string, unknown>): string {
  if (p.notice === 'test') return `Test message from Switchboard (${String(p.channel)})`;
  if (p.notice === 'budget') return `[BUDGET] ${(p.feature as { name: string }).name}: ${String(p.message)}`;
  if (p.rollout)
    return `[${String(p.notice).toUpperCase()}] rollout on ${(p.feature as { name: string }).name} in ${String(p.environment)}: ${String(p.message)} ${String((p.links as { rollout: string }).rollout)}`;
  const rule = p.rule as { kind: string; severity: string };
  const feature = p.feature as { name: string };
  const what = p.notice === 'resolved' ? 'RESOLVED' : p.notice === 'repeat' ? 'STILL FIRING' : 'FIRING';
  const env = p.environment ? ` in ${String(p.environment)}` : '';
  return `[${what}] ${rule.kind} on ${feature.name}${env}: ${String(p.value)} (threshold ${String(p.threshold)}, ${String(p.sample_n)} requests, ${rule.severity}) ${String((p.links as { alert: string }).alert)}`;
}

/** The body and headers of one attempt: signed when the channel has a secret (HMAC-SHA256 over timestamp + "." + body). */
export function request(d: Delivery, channel: Channel, secret: string | null, now: Date) {
  const body = JSON.stringify(channel.kind === 'slack' ? { text: slackText(d.payload) } : { delivery_id: d.id, ...d.payload });
  const timestamp = String(Math.floor(now.getTime() / SECOND));
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'Switchboard-Alerts',
    'X-Switchboard-Delivery': d.id,
    'X-Switchboard-Timestamp': timestamp,
  };
  if (secret)
    headers['X-Switchboard-Signature'] = `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  return { body, headers };
}

/** Sends what is due, one delivery per channel, and records each answer. */
export async function sendDue(db: Db, providers: Pick<Providers, 'openKey' | 'lookup' | 'privateAddressProblem'>, now: Date) {
  const claimed = await claim(db, now);
  const outcomes = await Promise.all(
    claimed.map(async (d) => {
      let secret: string | null = null;
      try {
        secret = d.channel.secret_ciphertext ? providers.openKey(d.channel.secret_ciphertext, d.channel.id) : null;
      } catch {
        return record(db, d, { error: 'the channel secret cannot be decrypted with this SECRETS_KEY: enter it again' }, now);
      }
      // Checked again at every send: the rules (PROVIDER_ALLOWED_PRIVATE) may have changed since the channel was made.
      const urlProblem = baseUrlProblem(d.channel.url) ?? providers.privateAddressProblem(d.channel.url);
      if (urlProblem) return record(db, d, { error: `the channel URL ${urlProblem}` }, now);
      const { body, headers } = request(d, d.channel, secret, now);
      return record(db, d, await postBody(d.channel.url, body, headers, providers.lookup, SEND_TIMEOUT_MS, now), now);
    }),
  );
  return { sent: claimed.length, delivered: outcomes.filter((s) => s === 'delivered').length };
}

async function record(db: Db, d: Delivery, r: Awaited<ReturnType<typeof postBody>>, now: Date) {
  const ok = 'status' in r && r.status >= 200 && r.status < 300;
  const backoff = BACKOFF_S[d.attempts - 1];
  const waitS = Math.max(backoff ?? 0, ('status' in r && r.retryAfterS) || 0);
  const status = ok ? 'delivered' : backoff === undefined ? 'failed' : 'pending';
  await db('notification_deliveries')
    .where({ id: d.id })
    .update({
      status,
      last_status_code: 'status' in r ? r.status : null,
      last_error: 'error' in r ? r.error : ok ? null : `HTTP ${r.status}`,
      next_attempt_at: status === 'pending' ? new Date(now.getTime() + waitS * SECOND) : now,
    });
  return status;
}
