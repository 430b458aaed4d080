import type { Knex } from 'knex';

// Gradual rollouts with guardrails (issue 18): a candidate model and/or prompt version served to a
// sticky share of an environment's end users, guarded against the stable arm; at most one running
// or paused rollout per (feature, environment). rollout_bucket() is the SQL twin of the documented
// bucketing (src/services/rollout-bucket.ts, docs/rollout-vectors.json).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION rollout_bucket(salt text, end_user_id text) RETURNS integer
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $$ SELECT (('x' || substr(encode(sha256(convert_to(salt || ':' || end_user_id, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint % 10000)::integer $$;

    CREATE TABLE rollouts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id uuid NOT NULL REFERENCES ai_features(id) ON DELETE CASCADE,
      environment text NOT NULL,
      candidate_model_id uuid REFERENCES ai_models(id),
      candidate_prompt_version_id uuid REFERENCES prompt_versions(id),
      stable_model_id uuid REFERENCES ai_models(id),
      stable_prompt_version_id uuid REFERENCES prompt_versions(id),
      salt text NOT NULL,
      percent_bp integer NOT NULL DEFAULT 0 CHECK (percent_bp BETWEEN 0 AND 10000),
      stages jsonb NOT NULL,
      stage_idx integer NOT NULL DEFAULT 0,
      stage_started_at timestamptz NOT NULL DEFAULT now(),
      guard jsonb NOT NULL,
      status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused', 'completed', 'rolled_back', 'aborted')),
      breach_since timestamptz,
      insufficient_since timestamptz,
      started_by text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      finished_by text,
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (candidate_model_id IS NOT NULL OR candidate_prompt_version_id IS NOT NULL)
    );
    CREATE UNIQUE INDEX rollouts_one_active ON rollouts (feature_id, environment) WHERE status IN ('running', 'paused');

    CREATE TABLE rollout_decisions (
      id bigserial PRIMARY KEY,
      rollout_id uuid NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
      action text NOT NULL,
      automatic boolean NOT NULL,
      from_bp integer NOT NULL,
      to_bp integer NOT NULL,
      explanation text NOT NULL,
      evidence jsonb NOT NULL DEFAULT '{}',
      decided_by text NOT NULL,
      decided_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX rollout_decisions_rollout ON rollout_decisions (rollout_id, decided_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE rollout_decisions; DROP TABLE rollouts; DROP FUNCTION rollout_bucket(text, text);');
}
