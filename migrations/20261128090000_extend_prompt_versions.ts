import crypto from 'node:crypto';
import type { Knex } from 'knex';

// Prompt management (issue 15, SPEC §10.1): a version also keeps its model parameters, the sample
// values its variables are checked with, the variables its template uses (extracted on save) and a
// hash of that content, so saving identical content finds the version that has it.
// The hash is src/services/prompt-template.ts contentHash(); the rows written before this migration
// have no parameters and no sample values, and are hashed as such here.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE prompt_versions
      ADD COLUMN params        jsonb  NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
      ADD COLUMN sample_values jsonb  NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(sample_values) = 'object'),
      ADD COLUMN variables     text[] NOT NULL DEFAULT '{}',
      ADD COLUMN content_hash  text;
  `);
  const rows: { id: string; template: string }[] = await knex('prompt_versions').select('id', 'template');
  for (const r of rows) {
    const hash = crypto
      .createHash('sha256')
      .update(JSON.stringify({ template: r.template, params: {}, sample_values: {} }))
      .digest('hex');
    const variables = [...new Set([...r.template.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)].map((m) => m[1]))];
    await knex('prompt_versions').where({ id: r.id }).update({ content_hash: hash, variables });
  }
  // Two identical old versions of one feature keep their numbers; only new saves are deduplicated.
  await knex.raw(`
    ALTER TABLE prompt_versions ALTER COLUMN content_hash SET NOT NULL;
    CREATE INDEX prompt_versions_content ON prompt_versions (feature_id, content_hash);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX prompt_versions_content;
    ALTER TABLE prompt_versions DROP COLUMN params, DROP COLUMN sample_values, DROP COLUMN variables, DROP COLUMN content_hash;
  `);
}
