import type { Knex } from 'knex';

// Test cases (issue 16, SPEC §10.2): per feature, an input (a prompt's variables, or chat messages)
// and the assertions a call's outcome must meet (src/services/test-assertions.ts), a "critical" flag,
// and repeats: a case passes when at least pass_k of its `repeats` attempts pass every assertion.
// Names are unique within a feature among cases not deleted; a deleted case keeps its row (runs
// keep a snapshot of the case they ran, and link it while it exists).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE test_cases (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id  uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      input       jsonb NOT NULL CHECK (jsonb_typeof(input) = 'object' AND (input -> 'variables' IS NOT NULL OR input -> 'messages' IS NOT NULL)),
      assertions  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(assertions) = 'array'),
      critical    boolean NOT NULL DEFAULT false,
      repeats     integer NOT NULL DEFAULT 1 CHECK (repeats BETWEEN 1 AND 10),
      pass_k      integer NOT NULL DEFAULT 1 CHECK (pass_k BETWEEN 1 AND repeats),
      created_by  text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now(),
      deleted_at  timestamptz
    );
    CREATE UNIQUE INDEX test_cases_name ON test_cases (feature_id, lower(name)) WHERE deleted_at IS NULL;
    CREATE INDEX test_cases_feature ON test_cases (feature_id, created_at) WHERE deleted_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE test_cases');
}
