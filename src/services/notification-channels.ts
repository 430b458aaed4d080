import crypto from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import { CHANNEL_KINDS, DELIVERY_STATUSES } from '../domain.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { blankAsMissing, CONTROL_MESSAGE, fieldErrors, withoutControlCharacters } from '../http/validation.ts';
import { baseUrlProblem } from '../providers/base-url.ts';
import type { Providers } from '../providers/index.ts';
import { type Actor, recordAudit } from './audit.ts';

// Notification channels and their delivery log (SPEC §10.4). A channel's URL follows the provider
// base-URL rules (no link-local or metadata addresses; private ones only when PROVIDER_ALLOWED_PRIVATE
// allows them); its secret is sealed like provider keys and never shown back.

const channelSchema = z.object({
  name: z
    .string({ message: 'is required' })
    .trim()
    .min(1, 'is required')
    .max(100, 'must be at most 100 characters')
    .refine(withoutControlCharacters, CONTROL_MESSAGE),
  kind: z.enum(CHANNEL_KINDS, { message: `must be one of ${CHANNEL_KINDS.join(', ')}` }),
  url: z.string({ message: 'is required' }).trim().min(1, 'is required').max(2000, 'must be at most 2000 characters'),
  secret: z.preprocess(
    blankAsMissing,
    z.string().min(16, 'must be at least 16 characters').max(200, 'must be at most 200 characters').optional(),
  ),
});

/** A channel as shown: whether it has a secret, never the secret. */
export const channelView = ({ secret_ciphertext, ...c }: Row<'notification_channels'>) => ({
  ...c,
  has_secret: secret_ciphertext !== null,
});

export const listChannels = async (db: Db) => (await db('notification_channels').orderBy('name')).map(channelView);

export async function createChannel(db: Db, providers: Providers, actor: Actor, input: Record<string, unknown>) {
  const parsed = channelSchema.safeParse(input);
  if (!parsed.success) throw new Refusal(422, 'The channel is not valid', fieldErrors(parsed.error));
  const { secret, ...fields } = parsed.data;
  const urlProblem = baseUrlProblem(fields.url) ?? providers.privateAddressProblem(fields.url);
  if (urlProblem) throw new Refusal(422, 'The channel is not valid', { url: urlProblem });
  const id = crypto.randomUUID(); // the sealed secret is bound to it
  return db.transaction(async (trx) => {
    const [row] = await trx('notification_channels')
      .insert({ id, ...fields, secret_ciphertext: secret ? providers.sealKey(secret, id) : null, created_by: actor.label })
      .onConflict(db.raw('(lower(name))'))
      .ignore()
      .returning('*');
    if (!row) throw new Refusal(409, `A channel named ${fields.name} already exists`, { name: 'is already taken' });
    await recordAudit(trx, actor, { action: 'channel.created', entityType: 'notification_channel', entityId: id, after: channelView(row) });
    return channelView(row);
  });
}

/** Queues a test message to a channel (delivered by the deliveries job like any other). */
export async function testSend(db: Db, actor: Actor, id: string, now: Date) {
  return db.transaction(async (trx) => {
    const channel = await trx('notification_channels').where({ id }).first('id', 'name');
    if (!channel) throw notFound('Channel');
    const [delivery] = await trx('notification_deliveries')
      .insert({
        channel_id: id,
        payload: JSON.stringify({ notice: 'test', channel: channel.name, at: now.toISOString(), by: actor.label }),
        next_attempt_at: now,
        created_at: now,
      })
      .returning('*');
    await recordAudit(trx, actor, {
      action: 'channel.tested',
      entityType: 'notification_channel',
      entityId: id,
      after: { delivery_id: delivery!.id },
    });
    return delivery!;
  });
}

export const deliveryFilter = z.object({
  status: z.enum(DELIVERY_STATUSES, { message: `must be one of ${DELIVERY_STATUSES.join(', ')}` }).optional(),
});

/** The delivery log, newest first, with each channel's name. */
export function deliveries(db: Db, filter: z.infer<typeof deliveryFilter> = {}, limit = 100) {
  const q = db('notification_deliveries')
    .join('notification_channels', 'notification_channels.id', 'notification_deliveries.channel_id')
    .select('notification_deliveries.*', 'notification_channels.name as channel_name')
    .orderBy('notification_deliveries.created_at', 'desc')
    .limit(limit);
  if (filter.status) q.where('notification_deliveries.status', filter.status);
  return q;
}

/** Sends a failed or silenced delivery again, under the same delivery id (receivers deduplicate on it). */
export async function resend(db: Db, actor: Actor, id: string, now: Date) {
  return db.transaction(async (trx) => {
    const d = await trx('notification_deliveries').where({ id }).forUpdate().first();
    if (!d) throw notFound('Delivery');
    if (d.status !== 'failed' && d.status !== 'silenced') {
      const state = d.status.replace('_', ' ');
      throw new Refusal(409, `Only a failed or silenced delivery can be sent again: this one is ${state}`, { status: `is ${state}` });
    }
    await trx('notification_deliveries').where({ id }).update({ status: 'pending', next_attempt_at: now });
    await recordAudit(trx, actor, {
      action: 'delivery.resent',
      entityType: 'notification_delivery',
      entityId: id,
      before: { status: d.status },
    });
  });
}
