import crypto from 'node:crypto';
import type { Role } from '../../src/auth/principal.ts';
import type { Db } from '../../src/db/knex.ts';
import type { TokenScope } from '../../src/domain.ts';
import { encryptSecret } from '../../src/providers/secrets.ts';
import { createApiKey } from '../../src/services/api-keys.ts';
import { createUser } from '../../src/services/users.ts';
import { TEST_SECRETS_KEY } from './app.ts';
import type { AssignmentRecord, Environment, FeatureRecord, ModelRecord, ProviderRecord } from './rows.ts';

// Each test arranges its own records through these: unique fields get a random suffix, everything
// else a plain default the test overrides when it matters to what it checks.

const SYSTEM = { kind: 'system', label: 'test' } as const;
export const suffix = () => crypto.randomBytes(4).toString('hex');

export async function makeUser(db: Db, role: Role = 'admin') {
  const email = `${role}-${suffix()}@example.test`;
  const password = `pw-${suffix()}-${suffix()}`;
  const user = await createUser(db, SYSTEM, { email, password, role });
  return { ...user, password };
}
export type TestUser = Awaited<ReturnType<typeof makeUser>>;

export async function makeToken(db: Db, scope: TokenScope) {
  return createApiKey(db, SYSTEM, { name: `test ${scope} ${suffix()}`, scope });
}

/** A provider API key of the shape providers hand out, ending in `tail` (its last 4 characters are what is ever shown). */
export const apiKey = (tail = crypto.randomBytes(2).toString('hex')) => `sk-live-${suffix()}${suffix()}${suffix()}-${tail}`;

export interface ProviderFields extends Partial<ProviderRecord> {
  /** A plaintext API key: stored sealed under the test SECRETS_KEY and bound to this provider's id, with its last 4. */
  key?: string;
}

/**
 * A provider row of the test's own, written straight to the table: OpenAI-compatible at
 * https://api.example.com/v1, inactive and without a key unless told otherwise.
 */
export async function makeProvider(db: Db, { key, ...fields }: ProviderFields = {}): Promise<ProviderRecord> {
  const id = fields.id ?? crypto.randomUUID(); // the sealed key is bound to its provider's id
  const name = fields.name ?? `p-${suffix()}`;
  const [row] = await db('ai_providers')
    .insert({
      name,
      display_name: `Provider ${name}`,
      kind: 'openai-compatible',
      base_url: 'https://api.example.com/v1',
      status: 'inactive',
      ...(key !== undefined && { api_key_ciphertext: encryptSecret(TEST_SECRETS_KEY, key, id), api_key_last4: key.slice(-4) }),
      ...fields,
      id,
    })
    .returning('*');
  return row;
}

/** The id of the seeded simulator provider (reference data): its models deploy without a key or a network. */
export async function simulatorIdOf(db: Db): Promise<string> {
  const row: Pick<ProviderRecord, 'id'> = await db('ai_providers').where({ name: 'simulator' }).first('id');
  return row.id;
}

/** A model row of the test's own: an available llm under the seeded simulator unless told otherwise. */
export async function makeModel(db: Db, fields: Partial<ModelRecord> = {}): Promise<ModelRecord> {
  const name = fields.name ?? `m-${suffix()}`;
  const [row] = await db('ai_models')
    .insert({
      name,
      display_name: `Model ${name}`,
      model_type: 'llm',
      status: 'available',
      input_price_per_1k: 0.001,
      output_price_per_1k: 0.002,
      context_window: 8192,
      ...fields,
      provider_id: fields.provider_id ?? (await simulatorIdOf(db)),
    })
    .returning('*');
  return row;
}

/** A feature of the test's own (name with a random suffix), "Test feature", needing an llm by default. */
export async function makeFeature(db: Db, fields: Partial<FeatureRecord> = {}): Promise<FeatureRecord> {
  const [row] = await db('ai_features')
    .insert({ name: `t-${suffix()}`, display_name: 'Test feature', required_model_type: 'llm', ...fields })
    .returning('*');
  return row;
}

export interface AssignmentFields extends Partial<Omit<AssignmentRecord, 'config_overrides'>> {
  feature_id: string;
  model_id: string;
}

/**
 * An assignment written straight to the table, bypassing the deployment pipeline: active in
 * production unless told otherwise; an inactive one is history (deactivated now).
 */
export async function makeAssignment(db: Db, fields: AssignmentFields): Promise<AssignmentRecord> {
  const active = fields.is_active ?? true;
  const [row] = await db('feature_model_assignments')
    .insert({
      environment: 'production' satisfies Environment,
      assigned_by: 'test',
      is_active: active,
      deactivated_at: active ? null : new Date(),
      ...fields,
    })
    .returning('*');
  return row;
}
