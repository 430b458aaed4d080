import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../seeds/demo.ts';
import { seedReference } from '../../seeds/reference.ts';
import type { Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { createProviders } from '../../src/providers/index.ts';
import { refusal } from '../../src/services/deployability.ts';
import { deploy } from '../../src/services/deployments.ts';
import { TEST_SECRETS_KEY } from '../setup/app.ts';
import { scratchDatabase, withScratchDatabase } from '../setup/scratch-db.ts';

const one = async (db: Db, sql: string) => (await db.raw(sql)).rows[0];
const NOW = new Date('2026-11-20T12:34:56Z');

describe('demo seed on a fresh database', () => {
  // 30 days of 1000 events a day up to NOW, seeded once into a database of this describe's own.
  let db: Db;
  let drop: () => Promise<void>;
  let first: Awaited<ReturnType<typeof seedDemo>>;
  beforeAll(async () => {
    ({ db, drop } = await scratchDatabase('demo'));
    await migrateLatest(db);
    await seedReference(db);
    first = await seedDemo(db, { now: NOW, days: 30, eventsPerDay: 1000 });
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  it('when run on a fresh database, then it writes a believable history once and a second run changes nothing', async () => {
    expect(first).toMatchObject({ seeded: true, assignments: 12, deployments: 14 });
    expect(first.events).toBeGreaterThan(27_000);
    expect(first.events).toBeLessThan(33_000);
    expect(await seedDemo(db, { now: NOW, days: 30, eventsPerDay: 1000 })).toMatchObject({ seeded: false, events: 0 });
    const totals = await one(
      db,
      `SELECT count(*) AS n, min(created_at) AS first, max(created_at) AS last,
      count(DISTINCT end_user_id) AS users, count(*) FILTER (WHERE status <> 'success') AS failures FROM ai_usage_logs`,
    );
    expect(totals.n).toBe(first.events);
    expect(totals.first.getTime()).toBeGreaterThan(NOW.getTime() - 30 * 86_400_000);
    expect(totals.last.getTime()).toBeLessThanOrEqual(NOW.getTime());
    expect(totals.users).toBeGreaterThan(2000);
    expect(totals.failures / totals.n).toBeGreaterThan(0.005);
    expect(totals.failures / totals.n).toBeLessThan(0.05);
  });

  it('when seeded, then every event is in its monthly partition with its idempotency key', async () => {
    expect(await one(db, 'SELECT count(*) AS n FROM ai_usage_logs_default')).toEqual({ n: 0 });
    expect(
      await one(db, `SELECT count(*) AS n FROM ai_usage_logs l LEFT JOIN ai_usage_event_keys k USING (event_id) WHERE k.event_id IS NULL`),
    ).toEqual({ n: 0 });
    expect(await one(db, 'SELECT count(*) AS n FROM ai_usage_event_keys')).toEqual({ n: first.events });
  });

  it("when seeded, then each event costs what its model's prices say, and is served by a model of the right type of its own provider", async () => {
    expect(
      await one(
        db,
        `SELECT count(*) AS n FROM ai_usage_logs l JOIN ai_models m ON m.id = l.model_id
      WHERE l.input_cost_usd <> round(l.input_tokens * m.input_price_per_1k / 1000, 8)
         OR l.cost_usd - l.input_cost_usd <> round(l.output_tokens * m.output_price_per_1k / 1000, 8)
         OR l.provider_id <> m.provider_id`,
      ),
    ).toEqual({ n: 0 });
    expect(
      await one(
        db,
        `SELECT count(*) AS n FROM ai_usage_logs l JOIN ai_models m ON m.id = l.model_id
      JOIN ai_features f ON f.id = l.feature_id WHERE m.model_type <> f.required_model_type`,
      ),
    ).toEqual({ n: 0 });
  });

  it('when seeded, then each feature and environment has one active assignment, and every event was served by the model active then', async () => {
    expect(await db('feature_model_assignments').where({ is_active: true }).count({ n: '*' })).toEqual([{ n: 9 }]);
    expect(
      await one(
        db,
        `SELECT count(*) AS n FROM ai_usage_logs l WHERE NOT EXISTS (
      SELECT 1 FROM feature_model_assignments a WHERE a.feature_id = l.feature_id AND a.environment = l.environment
        AND a.model_id = l.model_id AND l.created_at >= a.assigned_at AND l.created_at < coalesce(a.deactivated_at, 'infinity'))`,
      ),
    ).toEqual({ n: 0 });
  });

  it('when seeded, then every event carries the prompt version active for its feature and environment at its time (issue 15), so the split has versions to show', async () => {
    expect(
      await one(
        db,
        `SELECT count(*) AS n FROM ai_usage_logs l WHERE l.prompt_version IS DISTINCT FROM (
      SELECT v.version FROM prompt_activations a JOIN prompt_versions v ON v.id = a.prompt_version_id
      WHERE a.feature_id = l.feature_id AND a.environment = l.environment
        AND l.created_at >= a.activated_at AND l.created_at < coalesce(a.deactivated_at, 'infinity'))`,
      ),
    ).toEqual({ n: 0 });
    const chatbot = await db('ai_usage_logs as l')
      .join('ai_features as f', 'f.id', 'l.feature_id')
      .where({ 'f.name': 'chatbot', 'l.environment': 'production' })
      .distinct('l.prompt_version')
      .orderBy('l.prompt_version')
      .pluck('l.prompt_version');
    expect(chatbot).toEqual([1, 2, null]);
  });

  it('when seeded, then every model of any assignment or deployment can serve there again: no rule refuses it in advance, and its provider is the simulator', async () => {
    const used = (
      await db.raw(
        `SELECT DISTINCT f.display_name AS feature_display_name, f.required_model_type, u.environment, m.id, m.display_name, m.model_type,
           m.status, p.display_name AS provider_display_name, p.status AS provider_status, p.kind AS provider_kind,
           p.api_key_last4 IS NOT NULL AS provider_has_key
         FROM (SELECT feature_id, model_id, environment FROM feature_model_assignments
               UNION SELECT feature_id, model_id, environment FROM deployments) u
         JOIN ai_features f ON f.id = u.feature_id JOIN ai_models m ON m.id = u.model_id JOIN ai_providers p ON p.id = m.provider_id`,
      )
    ).rows;
    expect(used.length).toBeGreaterThanOrEqual(10);
    const refused = used
      .map((u: Record<string, string>) => ({
        model: u.display_name,
        refusal: refusal(
          { display_name: u.feature_display_name, required_model_type: u.required_model_type } as never,
          u as never,
          u.environment as never,
          null,
        ),
      }))
      .filter((r: { refusal: unknown }) => r.refusal !== null);
    expect(refused).toEqual([]);
    expect(new Set(used.map((u: { provider_kind: string }) => u.provider_kind))).toEqual(new Set(['simulator']));
    // The deployments it shows refused were refused by their smoke request, which no rule foresees.
    const failed = await db('deployments').where({ status: 'failed', subject: 'model' }).select('error');
    expect(failed.map((d) => d.error).sort()).toEqual([
      'smoke request failed: no answer within 10000 ms',
      'smoke request failed: the provider answered 503',
    ]);
  });

  it('when seeded, then rolling the chatbot’s production back to its earlier model goes through the pipeline, answered by the simulator', async () => {
    const providers = createProviders({ secretsKey: TEST_SECRETS_KEY, timeoutMs: 5000 });
    try {
      const feature = (await db('ai_features').where({ name: 'chatbot' }).first())!;
      const earlier = await db('feature_model_assignments')
        .where({ feature_id: feature.id, environment: 'production', is_active: false })
        .orderBy('assigned_at', 'desc')
        .first('model_id');
      const outcome = await deploy(
        db,
        providers,
        { kind: 'system', label: 'test' },
        feature,
        { model_id: earlier!.model_id, environment: 'production' },
        'rollback',
      );
      expect(outcome.deployment.checks.map((c) => [c.name, c.ok])).toEqual([
        ['model', true],
        ['provider', true],
        ['smoke', true],
      ]);
      expect(outcome).toMatchObject({ ok: true, status: 201 });
    } finally {
      await providers.close();
    }
  });

  it('when seeded, then the photo-tagging incident (an hour six days ago far above the usual error rate) and two refused model deployments are there', async () => {
    const worst = await one(
      db,
      `SELECT max(rate) AS rate FROM (
      SELECT count(*) FILTER (WHERE l.status <> 'success')::float / count(*) AS rate FROM ai_usage_logs l
      JOIN ai_features f ON f.id = l.feature_id WHERE f.name = 'photo-tagging'
      GROUP BY date_trunc('hour', l.created_at) HAVING count(*) >= 10) h`,
    );
    expect(worst.rate).toBeGreaterThan(0.1); // ten times the usual rate
    expect(await db('deployments').where({ status: 'failed', subject: 'model' }).whereNull('assignment_id').count({ n: '*' })).toEqual([
      { n: 2 },
    ]);
  });
});

describe('demo seed', () => {
  it('when the database already has assignments of its own, then the demo is skipped and they are left alone', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      const feature = (await db('ai_features').where({ name: 'chatbot' }).first('id'))!;
      const model = (await db('ai_models').where({ name: 'gpt-4.1' }).first('id'))!;
      await db('feature_model_assignments').insert({
        feature_id: feature.id,
        model_id: model.id,
        environment: 'production',
        assigned_by: 'admin',
      });
      const result = await seedDemo(db, { now: NOW, days: 2, eventsPerDay: 100 });
      expect(result).toMatchObject({ seeded: false, skipped: 'the database already has active model assignments' });
      expect(await db('feature_model_assignments').count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(await db('ai_usage_logs').count({ n: '*' })).toEqual([{ n: 0 }]);
    });
  });
});
