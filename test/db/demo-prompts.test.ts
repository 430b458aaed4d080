import { describe, expect, it } from 'vitest';
import { seedDemo } from '../../seeds/demo.ts';
import { seedReference } from '../../seeds/reference.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { withScratchDatabase } from '../setup/scratch-db.ts';

// The demo's prompts (issue 15): versions per feature, activations through recorded prompt
// deployments (their checks, who and why), one active version per feature and environment.

describe('demo seed, prompts', () => {
  it('when seeded, then every feature has versions, an active one in production, and a history of prompt deployments with one refusal', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      await seedDemo(db, { now: new Date('2026-11-20T12:00:00Z'), days: 30, eventsPerDay: 0 });
      const versions = await db('prompt_versions as v')
        .join('ai_features as f', 'f.id', 'v.feature_id')
        .groupBy('f.name')
        .select('f.name', db.raw('max(v.version)::int AS latest'))
        .orderBy('f.name');
      expect(versions).toEqual([
        { name: 'ai-search', latest: 2 },
        { name: 'chatbot', latest: 3 },
        { name: 'photo-tagging', latest: 2 },
      ]);
      const active = await db('prompt_activations as a')
        .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
        .join('ai_features as f', 'f.id', 'a.feature_id')
        .where({ 'a.is_active': true, 'a.environment': 'production' })
        .orderBy('f.name')
        .select('f.name', 'v.version');
      expect(active).toEqual([
        { name: 'ai-search', version: 2 },
        { name: 'chatbot', version: 2 },
        { name: 'photo-tagging', version: 1 },
      ]);
      const prompts = await db('deployments').where({ subject: 'prompt' });
      expect(prompts.filter((d) => d.status === 'failed').map((d) => d.error)).toEqual(['smoke request failed: the provider answered 503']);
      expect(prompts.every((d) => d.checks.map((c) => c.name).join() === 'render,context,smoke' && d.reason !== '')).toBe(true);
      const linked = await db('prompt_activations').whereNull('deployment_id');
      expect(linked).toEqual([]);
    });
  });
});
