import { randomUUID } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { activePrompt, findPromptVersion } from '../db/queries/prompts.ts';
import { ENVIRONMENTS, type Environment, type PromptParams } from '../domain.ts';
import { Refusal } from '../http/errors.ts';
import type { ChatMessage, SendRequest } from '../providers/adapter.ts';
import type { Providers } from '../providers/index.ts';
import { isArchived } from './archive.ts';
import { type Actor, recordAudit } from './audit.ts';
import { loadModel, type ModelForDeploy, openAdapter } from './deployments.ts';
import { renderStrict } from './prompt-template.ts';

// The playground (SPEC §10.2, issue 16): one call through the provider adapter, of an environment's
// model and active prompt or of any compatible model and prompt version. Its usage is recorded with a
// `test-<uuid>` event id in playground_calls, a table no production figure (overview, rollups,
// budgets) reads: test calls never count as production traffic.

/** What the playground is asked: a target (an environment, or a model) and an input (a prompt's variables, or messages). */
export interface PlaygroundInput {
  environment?: Environment;
  model_id?: string;
  prompt_version?: number;
  variables?: Record<string, string>;
  messages?: ChatMessage[];
}

/** How many of an embedding's first values are shown. */
const FIRST_VALUES = 8;
const ROLES = new Set(['system', 'user', 'assistant']);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON API's body, checked field by field; unknown fields are refused by name. */
export function playgroundInputOf(body: unknown): PlaygroundInput {
  const errors: Record<string, string> = {};
  const b = isRecord(body) ? body : {};
  for (const k of Object.keys(b)) {
    if (!['environment', 'model_id', 'prompt_version', 'variables', 'messages'].includes(k))
      errors[k] = 'is not a field of a playground call';
  }
  const input: PlaygroundInput = {};
  if (b.environment !== undefined && b.environment !== '') {
    if ((ENVIRONMENTS as readonly unknown[]).includes(b.environment)) input.environment = b.environment as Environment;
    else errors.environment = `must be one of ${ENVIRONMENTS.join(', ')}`;
  }
  if (b.model_id !== undefined && b.model_id !== '') {
    if (typeof b.model_id === 'string' && /^[0-9a-f-]{36}$/i.test(b.model_id)) input.model_id = b.model_id;
    else errors.model_id = 'must be the id of a model';
  }
  if (!input.environment && !input.model_id && !errors.environment && !errors.model_id)
    errors.environment = 'choose an environment or a model';
  if (input.environment && input.model_id) errors.model_id = 'choose an environment or a model, not both';
  if (b.prompt_version !== undefined && b.prompt_version !== '') {
    const n = Number(b.prompt_version);
    if (Number.isInteger(n) && n > 0) input.prompt_version = n;
    else errors.prompt_version = 'must be a version number';
  }
  if (b.variables !== undefined) {
    if (isRecord(b.variables) && Object.values(b.variables).every((v) => typeof v === 'string'))
      input.variables = b.variables as Record<string, string>;
    else errors.variables = 'must be an object of strings';
  }
  if (b.messages !== undefined) {
    const ok =
      Array.isArray(b.messages) &&
      b.messages.length > 0 &&
      b.messages.every((m) => isRecord(m) && ROLES.has(m.role as string) && typeof m.content === 'string');
    if (ok) input.messages = b.messages as ChatMessage[];
    else errors.messages = 'must be a list of {role: system|user|assistant, content}';
  }
  if (Object.keys(errors).length) throw new Refusal(422, 'The playground call is not valid', errors);
  return input;
}

/** A form's target field: `env:<environment>` or `model:<id>` (the playground's and the run form's). */
export function targetOfForm(target: unknown): { environment?: string; model_id?: string } {
  const t = typeof target === 'string' ? target : '';
  const [kind, value] = [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)];
  return kind === 'env' ? { environment: value } : kind === 'model' ? { model_id: value } : {};
}

/** The form's fields: the target is `env:<environment>` or `model:<id>`; variables are `name=value` lines; a message is one user message. */
export function playgroundInputOfForm(body: Record<string, unknown>): PlaygroundInput {
  const variables: Record<string, string> = {};
  for (const line of String(body.variables ?? '').split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) variables[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  const message = typeof body.message === 'string' ? body.message.trim() : '';
  return playgroundInputOf({
    ...targetOfForm(body.target),
    ...(body.prompt_version !== undefined && body.prompt_version !== '' && { prompt_version: body.prompt_version }),
    ...(Object.keys(variables).length && { variables }),
    ...(message && { messages: [{ role: 'user', content: message }] }),
  });
}

export interface PlaygroundResult {
  event_id: string;
  ok: boolean;
  error: string | null;
  model: { id: string; name: string; display_name: string; model_type: string };
  environment: Environment | null;
  prompt_version: number | null;
  /** What was sent (the rendered prompt, or the last message). */
  input: string;
  output: string | null;
  /** For an embedding model: its dimensions and first values. */
  embedding: { dimensions: number; first: number[] } | null;
  latency_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

const refuse = (field: string, message: string) => new Refusal(422, message, { [field]: message });

/** The model and prompt version a playground call (or a test run) uses. */
export async function resolveTarget(
  db: Db,
  feature: FeatureRow,
  input: Pick<PlaygroundInput, 'environment' | 'model_id' | 'prompt_version'>,
) {
  let modelId = input.model_id;
  if (input.environment) {
    modelId = (await activeAssignments(db, { featureId: feature.id, environment: input.environment })).at(0)?.model_id;
    if (!modelId) throw refuse('environment', `no model serves ${input.environment}`);
  }
  const model = modelId ? await loadModel(db, modelId) : undefined;
  if (!model || isArchived(model)) throw refuse('model_id', 'is not a model in the catalogue');
  if (model.model_type !== feature.required_model_type)
    throw refuse('model_id', `is not a ${feature.required_model_type} model, which this feature needs`);
  const version =
    input.prompt_version !== undefined
      ? await findPromptVersion(db, feature.id, input.prompt_version)
      : input.environment
        ? await activePrompt(db, feature.id, input.environment)
        : undefined;
  if (input.prompt_version !== undefined && !version)
    throw refuse('prompt_version', `version ${input.prompt_version} is not a version of this feature's prompt`);
  return { model, version };
}

/** The request a prompt version (rendered strictly with the variables over its sample values; the system message when messages come too) or the messages make. */
export function requestOf(
  version: { template: string; params: PromptParams; sample_values: Record<string, string> } | undefined,
  input: Pick<PlaygroundInput, 'variables' | 'messages'>,
): SendRequest {
  if (version) {
    const rendered = renderStrict(version.template, { ...version.sample_values, ...input.variables });
    if (!rendered.ok) throw refuse('variables', `no value for ${rendered.missing.map((v) => `{{${v}}}`).join(', ')}`);
    const { temperature, max_tokens, stop } = version.params;
    // With messages too, the rendered prompt is their system message.
    const messages: ChatMessage[] | undefined = input.messages && [{ role: 'system', content: rendered.text }, ...input.messages];
    return { input: rendered.text, temperature, max_tokens, stop, ...(messages && { messages }) };
  }
  if (!input.messages) throw refuse('messages', 'write a message (or choose a prompt version)');
  return { input: input.messages.at(-1)!.content, messages: input.messages };
}

/** What one call through a model's adapter produced: the text or the vector, latency, the tokens the provider counted, and their cost. */
export interface CallOutcome {
  ok: boolean;
  error: string | null;
  output: string | null;
  embedding: number[] | null;
  latency_ms: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** A model's prices per 1,000 tokens. */
export const pricesOf = async (db: Db, modelId: string) =>
  (await db('ai_models').where({ id: modelId }).first('input_price_per_1k', 'output_price_per_1k')) ?? {
    input_price_per_1k: 0,
    output_price_per_1k: 0,
  };
export type Prices = Awaited<ReturnType<typeof pricesOf>>;

/** One call of a request (an embedding model embeds its input) through the model's adapter — or why there is none — bounded by the provider timeout. */
export async function callModel(
  opened: Awaited<ReturnType<typeof openAdapter>>,
  model: Pick<ModelForDeploy, 'name' | 'model_type'>,
  prices: Prices,
  request: SendRequest,
): Promise<CallOutcome> {
  const sent =
    'adapter' in opened
      ? await opened.adapter.send(model.name, model.model_type, model.model_type === 'embedding' ? { input: request.input } : request)
      : { ok: false, latencyMs: 0, error: opened.check.detail };
  const inputTokens = sent.ok ? ('inputTokens' in sent ? (sent.inputTokens ?? 0) : 0) : 0;
  const outputTokens = sent.ok ? ('outputTokens' in sent ? (sent.outputTokens ?? 0) : 0) : 0;
  const cost = (inputTokens * Number(prices.input_price_per_1k) + outputTokens * Number(prices.output_price_per_1k)) / 1000;
  return {
    ok: sent.ok,
    error: sent.error ?? null,
    output: ('text' in sent ? sent.text : undefined) ?? null,
    embedding: ('embedding' in sent ? sent.embedding : undefined) ?? null,
    latency_ms: sent.latencyMs,
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cost_usd: Math.round(cost * 1e6) / 1e6,
  };
}

/** Sends one playground call through the model's provider adapter (bounded by the provider timeout) and records its usage. */
export async function playgroundCall(
  db: Db,
  providers: Providers,
  actor: Actor,
  feature: FeatureRow,
  input: PlaygroundInput,
): Promise<PlaygroundResult> {
  const { model, version } = await resolveTarget(db, feature, input);
  const request = requestOf(version, input);
  const call = await callModel(await openAdapter(providers, model), model, await pricesOf(db, model.id), request);
  const vector = call.embedding;
  const result: PlaygroundResult = {
    event_id: `test-${randomUUID()}`,
    ok: call.ok,
    error: call.error,
    model: { id: model.id, name: model.name, display_name: model.display_name, model_type: model.model_type },
    environment: input.environment ?? null,
    prompt_version: version?.version ?? null,
    input: request.input,
    output: call.output,
    embedding: vector ? { dimensions: vector.length, first: vector.slice(0, FIRST_VALUES) } : null,
    latency_ms: call.latency_ms,
    input_tokens: call.input_tokens,
    output_tokens: call.output_tokens,
    cost_usd: call.cost_usd,
  };
  await db.transaction(async (trx) => {
    await trx('playground_calls').insert({
      event_id: result.event_id,
      feature_id: feature.id,
      model_id: model.id,
      prompt_version_id: version?.id ?? null,
      environment: result.environment,
      ok: result.ok,
      error: result.error,
      latency_ms: result.latency_ms,
      input_tokens: result.input_tokens,
      output_tokens: result.output_tokens,
      cost_usd: result.cost_usd,
      created_by: actor.label,
    });
    await recordAudit(trx, actor, {
      action: 'playground.call',
      entityType: 'feature',
      entityId: feature.id,
      after: { event_id: result.event_id, model: model.name, prompt_version: result.prompt_version, ok: result.ok },
    });
  });
  return result;
}
