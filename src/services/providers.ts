import crypto from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { findProvider, type ProviderRow } from '../db/queries/catalogue.ts';
import type { Row } from '../db/tables.ts';
import { keyHint, PROVIDER_KINDS } from '../domain.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { blankAsMissing, displayNameField, fieldErrors, flagField, slugField, unchangeable, unknownFields } from '../http/validation.ts';
import type { CallResult } from '../providers/adapter.ts';
import { baseUrlProblem, normalBaseUrl } from '../providers/base-url.ts';
import { type Providers, UnreadableKeyError } from '../providers/index.ts';
import { type Actor, recordAudit } from './audit.ts';
import { affectedOf, describeAffected } from './models.ts';

const baseUrlField = z
  .string({ message: 'must be a URL' })
  .trim()
  .max(500, 'must be at most 500 characters')
  .superRefine((v, ctx) => {
    const problem = baseUrlProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform(normalBaseUrl);

const apiKeyField = z
  .string({ message: 'must be text' })
  .trim()
  .min(8, 'must be at least 8 characters')
  .max(500, 'must be at most 500 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable characters without spaces');

const statusField = z.enum(['active', 'inactive'], { message: 'must be active or inactive' });

const newProviderSchema = z.object({
  name: slugField,
  display_name: displayNameField,
  kind: z.preprocess(
    blankAsMissing,
    z.enum(PROVIDER_KINDS, { message: `must be ${PROVIDER_KINDS.join(' or ')}` }).default('openai-compatible'),
  ),
  base_url: z.preprocess(blankAsMissing, baseUrlField.optional()),
  api_key: z.preprocess(blankAsMissing, apiKeyField.optional()),
  status: z.preprocess(blankAsMissing, statusField.default('inactive')),
});

const providerChangeSchema = z.object({
  display_name: displayNameField.optional(),
  base_url: z.preprocess(blankAsMissing, baseUrlField.optional()),
  /** A new key; null removes the stored one. */
  api_key: z.preprocess(blankAsMissing, apiKeyField.nullable().optional()),
  status: z.preprocess(blankAsMissing, statusField.optional()),
  /** Goes ahead although features are served through this provider. */
  confirm: z.preprocess(blankAsMissing, flagField.optional()),
});

const invalid = (errors: Record<string, string>) => new Refusal(422, 'Invalid provider', errors);

/** What a provider looks like in the audit log: the key only as its hint. */
const audited = (p: { display_name: string; base_url: string | null; api_key_last4: string | null; status: string }) => ({
  display_name: p.display_name,
  base_url: p.base_url,
  api_key: keyHint(p.api_key_last4),
  status: p.status,
});

/** The rules that span fields: where a base URL is needed, and that an active provider has its key. */
function crossFieldErrors(p: { kind: string; base_url?: string | null; has_key: boolean; status: string }): Record<string, string> {
  const errors: Record<string, string> = {};
  if (p.kind === 'openai-compatible' && !p.base_url) errors.base_url = 'is required for an OpenAI-compatible provider';
  if (p.kind === 'simulator' && p.base_url) errors.base_url = 'must be empty: the simulator is served by Switchboard itself';
  if (p.kind === 'openai-compatible' && p.status === 'active' && !p.has_key) errors.status = 'cannot be active without an API key';
  return errors;
}

/** Adds a provider; its key is sealed before it is stored and shown back only as its last 4 characters. */
export async function createProvider(db: Db, providers: Providers, actor: Actor, input: unknown): Promise<ProviderRow> {
  const parsed = newProviderSchema.safeParse(input);
  if (!parsed.success) throw invalid(fieldErrors(parsed.error));
  const { api_key, ...fields } = parsed.data;
  const errors = crossFieldErrors({ ...fields, has_key: api_key !== undefined });
  const privateUrl = fields.base_url && providers.privateAddressProblem(fields.base_url);
  if (privateUrl) errors.base_url = privateUrl;
  if (Object.keys(errors).length) throw invalid(errors);
  const id = crypto.randomUUID(); // known before the insert: the sealed key is bound to it
  return db.transaction(async (trx) => {
    const [row] = await trx('ai_providers')
      .insert({
        id,
        ...fields,
        base_url: fields.base_url ?? null,
        ...(api_key && { api_key_ciphertext: providers.sealKey(api_key, id), api_key_last4: api_key.slice(-4) }),
      })
      .onConflict('name')
      .ignore()
      .returning(['id', 'display_name', 'base_url', 'api_key_last4', 'status']);
    if (!row) throw new Refusal(409, `A provider named ${fields.name} already exists`, { name: 'is already taken' });
    await recordAudit(trx, actor, {
      action: 'provider.created',
      entityType: 'provider',
      entityId: row.id,
      after: { name: fields.name, kind: fields.kind, ...audited(row) },
    });
    return (await findProvider(trx, row.id))!;
  });
}

/**
 * Changes a provider's display name, base URL, key or status. A new base URL needs the key again (a
 * stored key is never sent to an address it was not given for); an active OpenAI-compatible provider
 * keeps a key. The row is locked while the change is checked and written.
 */
export async function updateProvider(
  db: Db,
  providers: Providers,
  actor: Actor,
  idOrName: string,
  input: unknown,
  /** What the audit row's `after` says besides the provider (an activation's connection test). */
  auditNote: Record<string, unknown> = {},
): Promise<ProviderRow> {
  const body = (input ?? {}) as Record<string, unknown>;
  const parsed = providerChangeSchema.safeParse(body);
  return db.transaction(async (trx) => {
    const found = await findProvider(trx, idOrName);
    if (!found) throw notFound('Provider');
    const current = await trx('ai_providers')
      .where('id', found.id)
      .forUpdate()
      .first('id', 'name', 'kind', 'display_name', 'base_url', 'api_key_last4', 'status');
    if (!current) throw notFound('Provider');
    const fixed = {
      ...unknownFields(body, [...Object.keys(providerChangeSchema.shape), 'name', 'kind']),
      ...unchangeable(body, current, ['name', 'kind']),
    };
    if (!parsed.success || Object.keys(fixed).length) throw invalid({ ...fixed, ...(parsed.success ? {} : fieldErrors(parsed.error)) });
    const change = parsed.data;
    const movesUrl = change.base_url !== undefined && change.base_url !== current.base_url;
    const errors = changeErrors(providers, current, change, movesUrl);
    if (Object.keys(errors).length) throw invalid(errors);
    await confirmedIfServing(trx, current, change, movesUrl);
    const unchanged =
      change.api_key === undefined &&
      !movesUrl &&
      (change.display_name ?? current.display_name) === current.display_name &&
      (change.status ?? current.status) === current.status;
    if (unchanged) return found; // nothing to write or to audit
    const key =
      change.api_key === undefined
        ? {}
        : change.api_key === null
          ? { api_key_ciphertext: null, api_key_last4: null }
          : { api_key_ciphertext: providers.sealKey(change.api_key, current.id), api_key_last4: change.api_key.slice(-4) };
    const [row] = await trx('ai_providers')
      .where('id', current.id)
      .update({
        ...(change.display_name !== undefined && { display_name: change.display_name }),
        ...(change.base_url !== undefined && { base_url: change.base_url }),
        ...(change.status !== undefined && { status: change.status }),
        ...key,
        updated_at: trx.fn.now(),
      })
      .returning(['display_name', 'base_url', 'api_key_last4', 'status']);
    const action =
      change.status && change.status !== current.status
        ? `provider.${change.status === 'active' ? 'activated' : 'deactivated'}`
        : 'provider.updated';
    await recordAudit(trx, actor, {
      action,
      entityType: 'provider',
      entityId: current.id,
      before: audited(current),
      after: { ...audited(row), ...auditNote },
    });
    return (await findProvider(trx, current.id))!;
  });
}

type ProviderChange = z.infer<typeof providerChangeSchema>;
type CurrentProvider = Pick<Row<'ai_providers'>, 'id' | 'kind' | 'display_name' | 'base_url' | 'api_key_last4' | 'status'>;

/** What a change breaks given the provider as it is; a key that goes missing through it is reported on the key, not on the status. */
function changeErrors(providers: Providers, current: CurrentProvider, change: ProviderChange, movesUrl: boolean): Record<string, string> {
  const keyAfter = change.api_key === undefined ? current.api_key_last4 !== null && !movesUrl : change.api_key !== null;
  const errors = crossFieldErrors({
    kind: current.kind,
    base_url: change.base_url ?? current.base_url,
    has_key: keyAfter,
    status: change.status ?? current.status,
  });
  const privateUrl = change.base_url && providers.privateAddressProblem(change.base_url);
  if (privateUrl) errors.base_url = privateUrl;
  // A key that goes missing through this change is reported on the key, not on the status.
  if (movesUrl && current.api_key_last4 && change.api_key === undefined) errors.api_key = 'is required again when the base URL changes';
  else if (change.api_key === null && errors.status && change.status === undefined)
    errors.api_key = 'cannot be removed while the provider is active: deactivate it first';
  if (errors.api_key) delete errors.status;
  return errors;
}

/** Deactivating a provider, or moving its base URL, while its models serve needs `confirm` (else 409 naming what it serves). */
async function confirmedIfServing(db: Db, current: CurrentProvider, change: ProviderChange, movesUrl: boolean): Promise<void> {
  const deactivates = change.status === 'inactive' && current.status !== 'inactive';
  if (!(deactivates || movesUrl) || change.confirm) return;
  const affected = affectedOf(await activeAssignments(db, { providerId: current.id }));
  if (!affected.length) return;
  const what = deactivates
    ? `Deactivating ${current.display_name} stops new deployments to its models`
    : `A new base URL sends the traffic of ${current.display_name}'s models to another address at once`;
  const message = `${what}, and it serves ${describeAffected(affected)}. Confirm to go ahead.`;
  throw new Refusal(409, message, {}, { affected, confirm_required: true });
}

/**
 * Runs a provider's health probe (GET /models through its adapter) and stores the result; a probe
 * that cannot even be prepared (an unreadable key, the simulator not starting) is stored as failed.
 * `at` is the time to record (the probe job's clock, which decides its slots); the database's otherwise.
 */
export async function probeProvider(
  db: Db,
  providers: Providers,
  providerId: string,
  kind: 'probe' | 'manual',
  at?: Date,
): Promise<CallResult> {
  const result = await connectionTest(db, providers, providerId);
  await db('health_checks').insert({
    provider_id: providerId,
    kind,
    status: result.ok ? 'ok' : 'error',
    latency_ms: result.latencyMs,
    error: result.error ?? null,
    ...(at && { checked_at: at }),
  });
  return result;
}

/** The probe's call alone, nothing stored: does the provider answer GET /models with its stored address and key? */
async function connectionTest(db: Db, providers: Providers, providerId: string): Promise<CallResult> {
  const record = await db('ai_providers').where('id', providerId).first('id', 'kind', 'base_url', 'api_key_ciphertext');
  if (!record) throw notFound('Provider');
  try {
    return await (await providers.adapterFor(record)).probe();
  } catch (err) {
    return {
      ok: false,
      latencyMs: 0,
      error:
        err instanceof UnreadableKeyError
          ? 'the stored API key cannot be decrypted with this SECRETS_KEY: enter the key again'
          : 'the probe could not be prepared (the provider’s adapter did not start)',
    };
  }
}

/**
 * Activates or deactivates a provider. Activation runs a connection test first (a provider the
 * rules refuse, e.g. keyless, is refused for that without one): when it fails, nothing is written
 * and the refusal (422) carries the test, unless the admin goes ahead `despite_failed_test`.
 * Returns the provider and the test when one ran.
 */
export async function changeProviderStatus(
  db: Db,
  providers: Providers,
  actor: Actor,
  idOrName: string,
  input: { status?: unknown; confirm?: unknown; despite_failed_test?: unknown },
): Promise<{ provider: ProviderRow; test?: CallResult }> {
  const change = { status: input.status, confirm: input.confirm };
  const despite = flagField.optional().safeParse(blankAsMissing(input.despite_failed_test));
  if (!despite.success) throw invalid({ despite_failed_test: 'must be yes or no' });
  const found = await findProvider(db, idOrName);
  if (!found) throw notFound('Provider');
  const keyless = found.kind !== 'simulator' && !found.api_key_last4;
  if (input.status !== 'active' || found.status === 'active' || keyless)
    return { provider: await updateProvider(db, providers, actor, found.id, change) };
  const test = await connectionTest(db, providers, found.id);
  if (!test.ok && !despite.data) {
    const message = `The connection test of ${found.display_name} failed: ${test.error}. It stays ${found.status}; activate it anyway only if you expect it to answer soon.`;
    throw new Refusal(422, message, {}, { test_failed: true, test });
  }
  const note = { connection_test: test.ok ? `passed in ${test.latencyMs} ms` : `failed: ${test.error}; activated anyway` };
  return { provider: await updateProvider(db, providers, actor, found.id, change, note), test };
}
