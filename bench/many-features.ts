import type { Db } from '../src/db/knex.ts';
import { runRollup } from '../src/metrics/rollup.ts';

// Does a page's cost grow with the number of features (issue 19)? Features are added up to 200, each
// with an assignment and 30 days of traffic; the global overview and the features page are then timed
// with them and without them (archived, their assignments inactive: as if never added) in alternating
// rounds, so a slow stretch of a shared machine falls on both; the ratio must stay ≤ 2 (no query per feature).

export const PAGES = { overview: '/platform/ai-management', features: '/platform/ai-management/features' } as const;

/** Shows the features growFeatures added, or hides them: archived, with their assignments inactive. */
export async function showGrown(db: Db, shown: boolean): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw(
      `UPDATE ai_features SET archived_at = ${shown ? 'NULL' : 'now()'}, archived_by = ${shown ? 'NULL' : "'bench'"} WHERE name LIKE 'bench-%'`,
    );
    await trx.raw(
      `UPDATE feature_model_assignments SET is_active = ?, deactivated_at = ${shown ? 'NULL' : 'now()'}
       WHERE assigned_by = 'bench' AND feature_id IN (SELECT id FROM ai_features WHERE name LIKE 'bench-%')`,
      [shown],
    );
  });
}

/** Adds features (with a production assignment and `eventsEach` events over 30 days) until there are `total`; returns how many there were before. */
export async function growFeatures(db: Db, total: number, eventsEach: number, now: Date): Promise<number> {
  const before = Number((await db('ai_features').count({ n: '*' }).first())!.n);
  const add = total - before;
  if (add <= 0) return before;
  await db.raw(
    `INSERT INTO ai_features (name, display_name, required_model_type)
     SELECT 'bench-' || g, 'Bench feature ' || g, 'llm' FROM generate_series(1, ?) g`,
    [add],
  );
  await db.raw(
    `INSERT INTO feature_model_assignments (feature_id, model_id, environment, is_active, assigned_by)
     SELECT f.id, (SELECT id FROM ai_models WHERE name = 'gpt-4o-mini'), 'production', true, 'bench' FROM ai_features f WHERE f.name LIKE 'bench-%'`,
  );
  await db.raw(
    `WITH f AS (SELECT id, row_number() OVER (ORDER BY name) AS k FROM ai_features WHERE name LIKE 'bench-%'),
          m AS (SELECT id, provider_id FROM ai_models WHERE name = 'gpt-4o-mini'),
          keys AS (
            INSERT INTO ai_usage_event_keys (event_id, created_at)
            SELECT 'grow-' || f.k || '-' || g, :now::timestamptz - (g * 2592000000.0 / :each) * interval '1 millisecond'
            FROM f, generate_series(1, :each) g RETURNING 1)
     INSERT INTO ai_usage_logs (event_id, feature_id, model_id, provider_id, environment, end_user_id, status,
                                response_time_ms, input_tokens, output_tokens, cost_usd, input_cost_usd, created_at)
     SELECT 'grow-' || f.k || '-' || g, f.id, m.id, m.provider_id, 'production', 'user-' || (g % 500),
            CASE WHEN g % 40 = 0 THEN 'error' ELSE 'success' END, 150 + (g * 37 + f.k) % 2000, 300, 80, 0.0006, 0.0004,
            :now::timestamptz - (g * 2592000000.0 / :each) * interval '1 millisecond'
     FROM f, m, generate_series(1, :each) g`,
    { now: now.toISOString(), each: eventsEach },
  );
  await runRollup({ db });
  // VACUUM and CHECKPOINT, as after the main bulk load (run.ts): otherwise autovacuum visits the 400k
  // new rows, and the checkpointer writes them out, while the pages are timed.
  await db.raw('VACUUM ANALYZE');
  await db.raw('CHECKPOINT').catch(() => {});
  return before;
}
