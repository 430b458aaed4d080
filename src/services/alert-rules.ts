import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { findFeature } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import { ALERT_SEVERITIES, type AlertKind, ENVIRONMENTS, NO_DATA_POLICIES, RULE_KINDS } from '../domain.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { blankAsMissing, fieldErrors, unknownFields } from '../http/validation.ts';
import { BELOW_KINDS } from './alert-state.ts';
import { closeAlertsOf } from './alerts.ts';
import { type Actor, recordAudit } from './audit.ts';

// Alert rules (SPEC §10.4): the API's field names (window_minutes, for_minutes…) map to the columns.

const minutes = (max: number) =>
  z.coerce
    .number({ message: 'must be a whole number of minutes' })
    .int('must be a whole number of minutes')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`);
const amount = z.coerce
  .number({ message: 'must be a number' })
  .refine(Number.isFinite, 'must be a number')
  .refine((v) => v >= 0, 'must be 0 or more');
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankAsMissing, schema.optional());
const channelList = z.preprocess(
  (v) => (v === undefined || v === '' ? [] : Array.isArray(v) ? v : [v]),
  z.array(z.uuid({ message: 'must be channel ids' }), { message: 'must be a list of channel ids' }).max(10, 'must be at most 10 channels'),
);

const fields = {
  feature: optional(z.string().trim().max(100)),
  environment: optional(z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(', ')}` })),
  kind: z.enum(RULE_KINDS, { message: `must be one of ${RULE_KINDS.join(', ')}` }),
  threshold: amount,
  resolve_threshold: optional(amount),
  window_minutes: optional(minutes(1440)),
  for_minutes: optional(minutes(1440)),
  resolve_for_minutes: optional(minutes(1440)),
  min_requests: optional(z.coerce.number({ message: 'must be a whole number' }).int('must be a whole number').min(0, 'must be 0 or more')),
  no_data: optional(z.enum(NO_DATA_POLICIES, { message: `must be one of ${NO_DATA_POLICIES.join(', ')}` })),
  repeat_minutes: optional(minutes(10080).min(5, 'must be at least 5')),
  severity: optional(z.enum(ALERT_SEVERITIES, { message: `must be one of ${ALERT_SEVERITIES.join(', ')}` })),
  channels: channelList,
  enabled: optional(
    z.preprocess(
      (v) => (typeof v === 'string' ? ['on', 'true', '1', 'yes'].includes(v) : v),
      z.boolean({ message: 'must be true or false' }),
    ),
  ),
};
export const ruleSchema = z.object(fields);
const patchSchema = z.object(fields).partial();
const KNOWN = Object.keys(fields);

export type RuleInput = z.infer<typeof ruleSchema>;
type Rule = Row<'alert_rules'>;

const invalid = (errors: Record<string, string>) => new Refusal(422, 'The alert rule is not valid', errors);

/** The rule as the API shows it. */
export const ruleView = (r: Rule) => ({
  id: r.id,
  feature_id: r.feature_id,
  environment: r.environment,
  kind: r.kind,
  threshold: r.threshold,
  resolve_threshold: r.resolve_threshold ?? r.threshold,
  window_minutes: r.window_min,
  for_minutes: r.for_min,
  resolve_for_minutes: r.resolve_for_min ?? r.for_min,
  min_requests: r.min_requests,
  no_data: r.no_data,
  repeat_minutes: r.repeat_min,
  severity: r.severity,
  channels: r.channel_ids,
  enabled: r.enabled,
  is_default: r.is_default,
});

/** Columns from input, checked against the database: the feature exists, the channels exist, hysteresis points the right way. */
async function columnsOf(db: Db, input: Partial<RuleInput>, kind: string, threshold: number) {
  const errors: Record<string, string> = {};
  const feature = input.feature ? await findFeature(db, input.feature) : undefined;
  if (input.feature && !feature) errors.feature = 'is not a feature';
  if (input.channels?.length) {
    const found = await db('notification_channels').whereIn('id', input.channels).pluck('id');
    if (found.length !== new Set(input.channels).size) errors.channels = 'must be existing channels';
  }
  const resolve = input.resolve_threshold;
  const below = BELOW_KINDS.has(kind as AlertKind);
  if (resolve !== undefined && (below ? resolve < threshold : resolve > threshold)) {
    errors.resolve_threshold = below ? 'must be at least the threshold' : 'must be at most the threshold';
  }
  if (Object.keys(errors).length) throw invalid(errors);
  return {
    ...(input.feature !== undefined && { feature_id: feature?.id ?? null }),
    ...(input.environment !== undefined && { environment: input.environment }),
    ...(input.kind !== undefined && { kind: input.kind }),
    ...(input.threshold !== undefined && { threshold: input.threshold }),
    ...(input.resolve_threshold !== undefined && { resolve_threshold: input.resolve_threshold }),
    ...(input.window_minutes !== undefined && { window_min: input.window_minutes }),
    ...(input.for_minutes !== undefined && { for_min: input.for_minutes }),
    ...(input.resolve_for_minutes !== undefined && { resolve_for_min: input.resolve_for_minutes }),
    ...(input.min_requests !== undefined && { min_requests: input.min_requests }),
    ...(input.no_data !== undefined && { no_data: input.no_data }),
    ...(input.repeat_minutes !== undefined && { repeat_min: input.repeat_minutes }),
    ...(input.severity !== undefined && { severity: input.severity }),
    ...(input.channels !== undefined && { channel_ids: input.channels }),
    ...(input.enabled !== undefined && { enabled: input.enabled }),
  };
}

export async function createRule(db: Db, actor: Actor, input: Record<string, unknown>): Promise<Rule> {
  const unknown = unknownFields(input, KNOWN);
  if (Object.keys(unknown).length) throw invalid(unknown);
  const parsed = ruleSchema.safeParse(input);
  if (!parsed.success) throw invalid(fieldErrors(parsed.error));
  const columns = await columnsOf(db, parsed.data, parsed.data.kind, parsed.data.threshold);
  return db.transaction(async (trx) => {
    const [rule] = await trx('alert_rules')
      .insert({ kind: parsed.data.kind, threshold: parsed.data.threshold, ...columns, created_by: actor.label })
      .returning('*');
    await recordAudit(trx, actor, { action: 'alert_rule.created', entityType: 'alert_rule', entityId: rule!.id, after: ruleView(rule!) });
    return rule!;
  });
}

export async function updateRule(db: Db, actor: Actor, id: string, input: Record<string, unknown>): Promise<Rule> {
  const unknown = unknownFields(input, KNOWN);
  if (Object.keys(unknown).length) throw invalid(unknown);
  const parsed = patchSchema.safeParse(input);
  if (!parsed.success) throw invalid(fieldErrors(parsed.error));
  return db.transaction(async (trx) => {
    const before = await trx('alert_rules').where({ id }).forUpdate().first();
    if (!before) throw notFound('Alert rule');
    if (before.is_default && (parsed.data.threshold !== undefined || parsed.data.kind !== undefined || parsed.data.feature !== undefined)) {
      throw invalid({ threshold: "of a default rule follows the feature's settings: change them there, or add a rule of your own" });
    }
    const columns = await columnsOf(trx, parsed.data, parsed.data.kind ?? before.kind, parsed.data.threshold ?? before.threshold);
    const [rule] = await trx('alert_rules')
      .where({ id })
      .update({ ...columns, updated_at: trx.fn.now() })
      .returning('*');
    if (before.enabled && !rule!.enabled) await closeAlertsOf(trx, actor, id, new Date());
    await recordAudit(trx, actor, {
      action: 'alert_rule.updated',
      entityType: 'alert_rule',
      entityId: id,
      before: ruleView(before),
      after: ruleView(rule!),
    });
    return rule!;
  });
}

/** Deletes a rule of an admin's own; a default rule can only be disabled (it would come back). */
export async function deleteRule(db: Db, actor: Actor, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    const before = await trx('alert_rules').where({ id }).forUpdate().first();
    if (!before) throw notFound('Alert rule');
    if (before.is_default) throw new Refusal(409, 'A default rule cannot be deleted: disable it instead', { id: 'is a default rule' });
    await trx('alert_rules').where({ id }).delete();
    await recordAudit(trx, actor, { action: 'alert_rule.deleted', entityType: 'alert_rule', entityId: id, before: ruleView(before) });
  });
}
