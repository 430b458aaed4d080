import type { Knex } from 'knex';

// Test-suite runs (issue 16, SPEC §10.2): a run aims a feature's cases (snapshotted when it is
// created) at a model and a prompt version; a worker (src/jobs/test-runs.ts) claims it by lease and
// works through its pending results, each written in its own transaction, so an interrupted run
// resumes where it stopped. A result is one case: its snapshot and every attempt (output, verdicts,
// latency, tokens, cost, error). Test calls are kept here only: no production figure reads them.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE test_runs (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id        uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      model_id          uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      prompt_version_id uuid REFERENCES prompt_versions (id) ON DELETE RESTRICT,
      environment       text CHECK (environment IN ('development', 'staging', 'production')),
      purpose           text NOT NULL DEFAULT 'manual' CHECK (purpose IN ('manual', 'gate')),
      deployment_id     uuid REFERENCES deployments (id) ON DELETE SET NULL,
      status            text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
      estimate_usd      numeric(14, 6) NOT NULL DEFAULT 0 CHECK (estimate_usd >= 0),
      cost_cap_usd      numeric(14, 6) NOT NULL CHECK (cost_cap_usd > 0),
      cost_usd          numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
      cases_total       integer NOT NULL DEFAULT 0 CHECK (cases_total >= 0),
      cases_done        integer NOT NULL DEFAULT 0 CHECK (cases_done >= 0),
      cases_passed      integer NOT NULL DEFAULT 0 CHECK (cases_passed >= 0),
      critical_failures integer NOT NULL DEFAULT 0 CHECK (critical_failures >= 0),
      pass_rate         numeric(5, 2) CHECK (pass_rate BETWEEN 0 AND 100),
      lease_owner       text,
      lease_until       timestamptz,
      resumed           integer NOT NULL DEFAULT 0 CHECK (resumed >= 0),
      created_by        text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      started_at        timestamptz,
      finished_at       timestamptz,
      error             text
    );
    CREATE INDEX test_runs_feature ON test_runs (feature_id, created_at DESC);
    CREATE INDEX test_runs_open ON test_runs (created_at) WHERE status IN ('queued', 'running');

    CREATE TABLE test_run_results (
      id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      run_id         uuid NOT NULL REFERENCES test_runs (id) ON DELETE CASCADE,
      position       integer NOT NULL CHECK (position >= 0),
      case_id        uuid REFERENCES test_cases (id) ON DELETE SET NULL,
      case_snapshot  jsonb NOT NULL,
      status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
      attempts       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(attempts) = 'array'),
      passed         boolean,
      latency_ms     integer CHECK (latency_ms >= 0),
      input_tokens   integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
      output_tokens  integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
      cost_usd       numeric(14, 6) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
      finished_at    timestamptz,
      UNIQUE (run_id, position)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE test_run_results; DROP TABLE test_runs');
}
