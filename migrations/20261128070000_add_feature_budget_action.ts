import type { Knex } from 'knex';

// SPEC §10.3: what happens over the monthly budget (notify only, or flag the feature over budget in
// the runtime config), and the minimum test-suite pass rate a production change must reach (stored
// now; the testing gate reads it).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ai_features
      ADD COLUMN over_budget_action text NOT NULL DEFAULT 'notify' CHECK (over_budget_action IN ('notify', 'flag')),
      ADD COLUMN min_eval_pass_rate numeric(5, 2) CHECK (min_eval_pass_rate BETWEEN 0 AND 100);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE ai_features DROP COLUMN over_budget_action, DROP COLUMN min_eval_pass_rate');
}
