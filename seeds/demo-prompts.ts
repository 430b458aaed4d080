import type { Db } from '../src/db/knex.ts';
import type { Check, DeploymentKind, Environment, PromptParams } from '../src/domain.ts';
import { loadModel } from '../src/services/deployments.ts';
import { promptChecks } from '../src/services/prompt-activation.ts';
import { contentHash, variablesOf } from '../src/services/prompt-template.ts';
import { BY, type Timeline } from './demo-history.ts';

// The demo's prompts (issue 15): a few versions per feature and their activations, written as the
// pipeline would have written them (its render and context checks, a smoke request that answered),
// each checked with the model that served the environment at the time. One refused activation shows
// what a failed smoke request looks like. Runs inside the demo seed's transaction, after its assignments.

interface DemoVersion {
  template: string;
  params?: PromptParams;
  samples?: Record<string, string>;
  note: string;
  daysAgo: number;
}
/** An activation: version number, environment, when, how, why; `smokeError` makes it a refused one. */
type DemoMove = [version: number, environment: Environment, daysAgo: number, kind: DeploymentKind, reason: string, smokeError?: string];

const CHAT_V1 = "You are the support assistant of {{product}}.\nAnswer the customer's question: {{question}}";
const CHAT_V2 = `${CHAT_V1}\nKeep answers under 120 words.`;
const CHAT_SAMPLES = { product: 'Acme Cloud', question: 'How do I reset my password?' };
const TAGS_V1 = 'List up to {{max_tags}} tags for this photo, comma-separated.';

const PROMPTS: Record<string, { versions: DemoVersion[]; moves: DemoMove[] }> = {
  chatbot: {
    versions: [
      { template: CHAT_V1, params: { temperature: 0.7, max_tokens: 400 }, samples: CHAT_SAMPLES, note: 'First prompt', daysAgo: 28 },
      { template: CHAT_V2, params: { temperature: 0.5, max_tokens: 300 }, samples: CHAT_SAMPLES, note: 'Shorter answers', daysAgo: 14 },
      {
        template: `${CHAT_V2}\nAnswer in a {{tone}} tone.`,
        params: { temperature: 0.5, max_tokens: 300, stop: ['###'] },
        samples: { ...CHAT_SAMPLES, tone: 'friendly' },
        note: 'Tone per brand',
        daysAgo: 3,
      },
    ],
    moves: [
      [1, 'development', 28, 'assign', 'first prompt'],
      [1, 'staging', 27.9, 'promote', 'first prompt'],
      [1, 'production', 27.8, 'promote', 'launch'],
      [2, 'development', 14, 'assign', 'answers were too long'],
      [2, 'staging', 13, 'promote', 'looks good in development'],
      [2, 'production', 12, 'promote', 'shorter answers, same ratings in staging'],
      [3, 'development', 3, 'assign', 'tone per brand'],
      [3, 'staging', 2, 'promote', 'ready for review'],
      [3, 'production', 1, 'promote', 'brand tone', 'the provider answered 503'],
    ],
  },
  'ai-search': {
    versions: [
      { template: 'search_query: {{query}}', samples: { query: 'reset password' }, note: 'Plain query prefix', daysAgo: 25 },
      {
        template: 'Represent this search query for retrieving support articles: {{query}}',
        samples: { query: 'reset password' },
        note: 'Instruction prefix',
        daysAgo: 9,
      },
    ],
    moves: [
      [1, 'development', 25, 'assign', 'first prompt'],
      [1, 'staging', 24.9, 'promote', 'first prompt'],
      [1, 'production', 24.8, 'promote', 'launch'],
      [2, 'development', 9, 'assign', 'better recall in the offline set'],
      [2, 'staging', 8, 'promote', 'recall +4 points'],
      [2, 'production', 7, 'promote', 'recall +4 points in staging'],
    ],
  },
  'photo-tagging': {
    versions: [
      { template: TAGS_V1, params: { max_tokens: 60 }, samples: { max_tags: '5' }, note: 'First prompt', daysAgo: 20 },
      {
        template: `${TAGS_V1}\nUse lowercase English nouns.`,
        params: { max_tokens: 60, temperature: 0.2 },
        samples: { max_tags: '5' },
        note: 'Consistent tags',
        daysAgo: 5,
      },
    ],
    moves: [
      [1, 'development', 20, 'assign', 'first prompt'],
      [1, 'staging', 19.9, 'promote', 'first prompt'],
      [1, 'production', 19.8, 'promote', 'launch'],
      [2, 'development', 5, 'assign', 'mixed-case tags'],
      [2, 'staging', 4, 'promote', 'consistent in development'],
    ],
  },
};

/** The model serving a feature in an environment at a moment of the demo's history. */
async function servingAt(db: Db, featureId: string, environment: Environment, at: Date): Promise<string | undefined> {
  const row = await db('feature_model_assignments')
    .where({ feature_id: featureId, environment })
    .where('assigned_at', '<=', at)
    .where((q) => q.whereNull('deactivated_at').orWhere('deactivated_at', '>', at))
    .first('model_id');
  return (
    row?.model_id ??
    (await db('feature_model_assignments').where({ feature_id: featureId, environment, is_active: true }).first('model_id'))?.model_id
  );
}

/** Writes the demo's prompt versions and activations; returns how many deployments. */
export async function seedDemoPrompts(db: Db, time: Timeline): Promise<number> {
  let deployments = 0;
  for (const [name, plan] of Object.entries(PROMPTS)) {
    const feature = (await db('ai_features').where({ name }).first())!;
    const versions = [];
    for (const [i, v] of plan.versions.entries()) {
      const [row] = await db('prompt_versions')
        .insert({
          feature_id: feature.id,
          version: i + 1,
          template: v.template,
          params: JSON.stringify(v.params ?? {}),
          sample_values: JSON.stringify(v.samples ?? {}),
          variables: variablesOf(v.template),
          content_hash: contentHash(v.template, v.params ?? {}, v.samples ?? {}),
          notes: v.note,
          created_by: BY,
          created_at: time.ago(v.daysAgo),
        })
        .returning('*');
      versions.push(row);
    }
    for (const [number, environment, daysAgo, kind, reason, smokeError] of plan.moves) {
      const at = time.ago(daysAgo);
      const modelId = await servingAt(db, feature.id, environment, at);
      if (!modelId) continue;
      const version = versions[number - 1];
      const previous = await db('prompt_activations').where({ feature_id: feature.id, environment, is_active: true }).first();
      const smoke: Check = smokeError
        ? { name: 'smoke', ok: false, detail: `smoke request failed: ${smokeError}`, latency_ms: 38 }
        : { name: 'smoke', ok: true, detail: 'answered in 412 ms', latency_ms: 412 };
      const checks = [...promptChecks(version, (await loadModel(db, modelId))!).checks, smoke];
      const [deployment] = await db('deployments')
        .insert({
          feature_id: feature.id,
          subject: 'prompt',
          model_id: modelId,
          previous_model_id: modelId,
          prompt_version_id: version.id,
          previous_prompt_version_id: previous?.prompt_version_id ?? null,
          environment,
          kind,
          reason,
          requested_by: BY,
          started_at: at,
          finished_at: new Date(at.getTime() + 3100),
          status: smokeError ? 'failed' : 'success',
          error: smokeError ? smoke.detail : null,
          checks: JSON.stringify(checks),
        })
        .returning('id');
      deployments++;
      if (smokeError) continue;
      if (previous) await db('prompt_activations').where({ id: previous.id }).update({ is_active: false, deactivated_at: at });
      await db('prompt_activations').insert({
        feature_id: feature.id,
        prompt_version_id: version.id,
        environment,
        activated_by: BY,
        activated_at: at,
        previous_version_id: previous?.prompt_version_id ?? null,
        deployment_id: deployment.id,
      });
    }
  }
  return deployments;
}
