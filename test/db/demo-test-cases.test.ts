import { describe, expect, it } from 'vitest';
import { seedDemo } from '../../seeds/demo.ts';
import { FAILING_DEMO_CASE } from '../../seeds/demo-test-cases.ts';
import { seedReference } from '../../seeds/reference.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { renderStrict } from '../../src/services/prompt-template.ts';
import { type Assertion, evaluate } from '../../src/services/test-assertions.ts';
import { withScratchDatabase } from '../setup/scratch-db.ts';

// The demo's test suites (issue 16): 3 to 5 cases per feature; against the simulator's answers
// ("ok", the vector [0.1, 0.2, 0.3], some 40 ms) every assertion holds but one case's, so a run
// of the demo shows a failure. Each case's variables render the feature's production prompt.

const SIMULATED = { output: 'ok', latency_ms: 40, cost_usd: 0.00002 };
const VECTOR = [0.1, 0.2, 0.3];

describe('demo seed, test cases', () => {
  it('when seeded, then each feature has a suite the simulator passes but for one case', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      await seedDemo(db, { now: new Date('2026-11-20T12:00:00Z'), days: 30, eventsPerDay: 0 });
      const rows = await db('test_cases as c')
        .join('ai_features as f', 'f.id', 'c.feature_id')
        .orderBy([{ column: 'f.name' }, { column: 'c.created_at' }])
        .select('f.name as feature', 'f.required_model_type as type', 'f.id as feature_id', 'c.*');
      const counts: Record<string, number> = {};
      for (const r of rows) counts[r.feature] = (counts[r.feature] ?? 0) + 1;
      expect(counts).toEqual({ 'ai-search': 3, chatbot: 4, 'photo-tagging': 3 });
      const failing: string[] = [];
      for (const r of rows) {
        const embedding = r.type === 'embedding';
        const refs = Object.fromEntries(
          (r.assertions as Assertion[]).flatMap((a) => (a.type === 'similar' ? [[a.reference, VECTOR]] : [])),
        );
        const outcome = { ...SIMULATED, output: embedding ? null : 'ok', embedding: embedding ? VECTOR : null, reference_embeddings: refs };
        if (!(r.assertions as Assertion[]).every((a) => evaluate(a, outcome).pass)) failing.push(r.name);
        if (r.input.variables) {
          const prompt = await db('prompt_activations as a')
            .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
            .where({ 'a.feature_id': r.feature_id, 'a.environment': 'production', 'a.is_active': true })
            .first('v.template', 'v.sample_values');
          expect(renderStrict(prompt.template, { ...prompt.sample_values, ...r.input.variables }).ok, r.name).toBe(true);
        }
      }
      expect(failing).toEqual([FAILING_DEMO_CASE]);
      expect(rows.filter((r) => r.critical).map((r) => r.name)).toHaveLength(3);
    });
  });
});
