import type { Knex } from 'knex';

// Issue 15 (SPEC §10.1): a usage event may name the prompt version it used, and the rollups keep
// that dimension so any Overview figure can be split by version.
//  - ai_usage_logs.prompt_version: the version number of the feature's prompt, NULL when the event
//    named none (or one ingestion could not resolve; it then warned). Nullable, no default: adding it
//    to the partitioned table rewrites nothing.
//  - usage_rollup_minute/hour/day.prompt_version: the same number, 0 for "none" (a key column cannot
//    be NULL), last in the primary key so every reader's (feature_id, bucket) range scan is unchanged;
//    existing rows keep 0, which is what they were.
const ROLLUPS = ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day'];
const KEY = 'feature_id, bucket, model_id, provider_id, environment';
// The additive columns of a rollup row as the rollup migration made them (frozen here on purpose).
const SUMS = [
  'requests',
  'successes',
  'errors',
  'timeouts',
  'latency_sum_ms',
  ...Array.from({ length: 39 }, (_v, i) => `lat_${String(i).padStart(2, '0')}`),
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'input_cost_usd',
];

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ai_usage_logs ADD COLUMN prompt_version integer CHECK (prompt_version > 0)');
  for (const table of ROLLUPS) {
    await knex.raw(`
      ALTER TABLE ${table}
        ADD COLUMN prompt_version integer NOT NULL DEFAULT 0 CHECK (prompt_version >= 0),
        DROP CONSTRAINT ${table}_pkey,
        ADD PRIMARY KEY (${KEY}, prompt_version)`);
  }
}

// Down folds every version's rows into the versionless row of their key, so the figures stay whole.
export async function down(knex: Knex): Promise<void> {
  for (const table of ROLLUPS) {
    await knex.raw(`
      WITH moved AS (DELETE FROM ${table} WHERE prompt_version <> 0 RETURNING *)
      INSERT INTO ${table} AS t (${KEY}, prompt_version, ${SUMS.join(', ')})
      SELECT ${KEY}, 0, ${SUMS.map((c) => `sum(${c})`).join(', ')} FROM moved GROUP BY ${KEY}
      ON CONFLICT (${KEY}, prompt_version) DO UPDATE SET ${SUMS.map((c) => `${c} = t.${c} + excluded.${c}`).join(', ')}`);
    await knex.raw(`
      ALTER TABLE ${table}
        DROP CONSTRAINT ${table}_pkey,
        DROP COLUMN prompt_version,
        ADD PRIMARY KEY (${KEY})`);
  }
  await knex.raw('ALTER TABLE ai_usage_logs DROP COLUMN prompt_version');
}
