import { describe, expect, it } from 'vitest';
import { seedReference } from '../../seeds/reference.ts';
import { MODELS, PROVIDERS } from '../../seeds/reference-data.ts';
import type { Db } from '../../src/db/knex.ts';
import { migrateLatest, rollbackAll } from '../../src/db/migrate.ts';
import { ensureUsagePartitions } from '../../src/db/partitions.ts';
import { withScratchDatabase } from '../setup/scratch-db.ts';

const tables = async (db: Db) =>
  (await db.raw(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex_%' ORDER BY 1`)).rows.map(
    (r: { tablename: string }) => r.tablename,
  );

describe('migrations', () => {
  it('when migrated up, down and up again, then the schema comes back whole and down leaves nothing behind', async () => {
    await withScratchDatabase(async (db) => {
      const applied = await migrateLatest(db);
      expect(applied.length).toBeGreaterThan(10);
      const first = await tables(db);
      expect(first).toEqual(
        expect.arrayContaining([
          'users',
          'sessions',
          'ai_providers',
          'ai_models',
          'ai_features',
          'feature_model_assignments',
          'deployments',
          'ai_usage_logs',
          'ai_usage_logs_default',
          'ai_usage_event_keys',
          'usage_rollup_minute',
          'usage_rollup_hour',
          'prompt_versions',
          'prompt_activations',
          'api_keys',
          'audit_log',
          'health_checks',
          'rollouts',
          'rollout_decisions',
        ]),
      );
      expect(await rollbackAll(db)).toHaveLength(applied.length);
      expect(await tables(db)).toEqual([]);
      const functions = await db.raw(
        `SELECT proname FROM pg_proc WHERE proname IN ('ensure_usage_partitions', 'audit_log_refuse_change', 'usage_refuse_orphaning', 'rollout_bucket')`,
      );
      expect(functions.rows).toEqual([]);
      expect(await migrateLatest(db)).toEqual(applied);
      expect(await tables(db)).toEqual(first);
    });
  });
});

describe('reference seed', () => {
  it("when run twice, then the second run adds nothing and leaves an admin's edits alone", async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      expect(await seedReference(db)).toBe(3 + PROVIDERS.length + MODELS.length);
      await db('ai_models').where({ name: 'gpt-4o' }).update({ display_name: 'Edited' });
      expect(await seedReference(db)).toBe(0);
      expect(await db('ai_models').where({ name: 'gpt-4o' }).first('display_name')).toEqual({ display_name: 'Edited' });
      const statuses = await db('ai_models').distinct('status').pluck('status');
      const types = await db('ai_models').distinct('model_type').pluck('model_type');
      expect(statuses.sort()).toEqual(['available', 'beta', 'deprecated', 'offline']);
      expect(types.sort()).toEqual(['embedding', 'llm', 'vision']);
      const features = await db('ai_features').orderBy('name').select('name', 'required_model_type');
      expect(features).toEqual([
        { name: 'ai-search', required_model_type: 'embedding' },
        { name: 'chatbot', required_model_type: 'llm' },
        { name: 'photo-tagging', required_model_type: 'vision' },
      ]);
      const keyless = await db('ai_providers').whereNot({ kind: 'simulator' }).select('status', 'api_key_last4');
      expect(keyless.every((p) => p.status === 'inactive' && p.api_key_last4 === null)).toBe(true);
    });
  });
});

describe('schema constraints', () => {
  it('when a second active assignment is made for the same feature and environment, then the database refuses it', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      const feature = (await db('ai_features').where({ name: 'chatbot' }).first('id'))!;
      const models = await db('ai_models').where({ model_type: 'llm' }).limit(2).pluck('id');
      const row = (model_id: string) => ({ feature_id: feature.id, model_id, environment: 'production' as const, assigned_by: 'test' });
      await db('feature_model_assignments').insert(row(models[0]));
      await expect(db('feature_model_assignments').insert(row(models[1]))).rejects.toThrow(/feature_model_assignments_one_active/);
      // @ts-expect-error not an environment: the database refuses it too
      await expect(db('feature_model_assignments').insert({ ...row(models[1]), environment: 'qa' })).rejects.toThrow(/check constraint/);
    });
  });

  it('when the audit log is updated, deleted or truncated, then the database refuses', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await db('audit_log').insert({ actor_type: 'system', actor_label: 't', action: 'x.y', entity_type: 'z' });
      await expect(db('audit_log').update({ actor_label: 'changed' })).rejects.toThrow(/append-only/);
      await expect(db('audit_log').delete()).rejects.toThrow(/append-only/);
      await expect(db.raw('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    });
  });

  it('when a feature, model or provider has usage, then the database refuses to delete it; without usage it may go', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      const feature = (await db('ai_features').where({ name: 'chatbot' }).first('id'))!;
      const model = (await db('ai_models').where({ name: 'gpt-4o-mini' }).first('id', 'provider_id'))!;
      await db('ai_usage_logs').insert({
        event_id: 'used',
        feature_id: feature.id,
        model_id: model.id,
        provider_id: model.provider_id,
        environment: 'production',
        status: 'success',
        response_time_ms: 10,
        created_at: new Date(),
      });
      await expect(db('ai_features').where({ id: feature.id }).delete()).rejects.toThrow(/usage events refer to it/);
      await expect(db('ai_models').where({ id: model.id }).delete()).rejects.toThrow(/usage events refer to it/);
      await expect(db('ai_providers').where({ id: model.provider_id }).delete()).rejects.toThrow(
        /usage events refer to it|violates foreign key/,
      );
      const [unused] = await db('ai_features')
        .insert({ name: 'unused', display_name: 'Unused', required_model_type: 'llm' })
        .returning('id');
      expect(await db('ai_features').where({ id: unused.id }).delete()).toBe(1);
    });
  });

  it("when a model is moved to another provider, then the database refuses (the rollups take an event's provider from its model)", async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      const model = (await db('ai_models').where({ name: 'gpt-4o-mini' }).first('id', 'provider_id'))!;
      const other = (await db('ai_providers').whereNot({ id: model.provider_id }).first('id'))!;
      await expect(db('ai_models').where({ id: model.id }).update({ provider_id: other.id })).rejects.toThrow(/another provider/);
      expect((await db('ai_models').where({ id: model.id }).first('provider_id'))!.provider_id).toBe(model.provider_id);
      // Other changes, and writing the same provider, still go through.
      expect(await db('ai_models').where({ id: model.id }).update({ provider_id: model.provider_id, display_name: 'Renamed' })).toBe(1);
    });
  });

  it('when events fall outside every monthly partition, then they land in the default one and move out when their month is created', async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      await seedReference(db);
      const feature = (await db('ai_features').where({ name: 'chatbot' }).first('id'))!;
      const model = (await db('ai_models').where({ name: 'gpt-4o-mini' }).first('id', 'provider_id'))!;
      const at = new Date(Date.UTC(2031, 4, 10));
      await db('ai_usage_logs').insert({
        event_id: 'far-future',
        feature_id: feature.id,
        model_id: model.id,
        provider_id: model.provider_id,
        environment: 'production',
        status: 'success',
        response_time_ms: 10,
        created_at: at,
      });
      expect(await db('ai_usage_logs_default').count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(await ensureUsagePartitions(db, at, 0, 0)).toBe(1);
      expect(await db('ai_usage_logs_default').count({ n: '*' })).toEqual([{ n: 0 }]);
      expect(await db('ai_usage_logs_2031_05').count({ n: '*' })).toEqual([{ n: 1 }]);
      expect(await db('ai_usage_logs').count({ n: '*' })).toEqual([{ n: 1 }]);
    });
  });
});

describe('rollup schema', () => {
  it('when migrated, then the rollup tables have one latency column per histogram bucket', async () => {
    const { HIST_COLUMNS } = await import('../../src/metrics/histogram.ts');
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      const { rows } = await db.raw(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_rollup_minute' AND column_name LIKE 'lat\\_%' ORDER BY 1`,
      );
      expect(rows.map((r: { column_name: string }) => r.column_name)).toEqual(HIST_COLUMNS);
    });
  });
});

describe('raw usage indexes', () => {
  it("when migrated, then every partition's feature index, new ones' too, covers the exact percentiles' and the few-request sums' read (index-only), and each partition is vacuumed every 100k inserts", async () => {
    await withScratchDatabase(async (db) => {
      await migrateLatest(db);
      expect(await ensureUsagePartitions(db, new Date(Date.UTC(2031, 4, 10)), 0, 0)).toBe(1);
      const partitions: string[] = (
        await db.raw(
          `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ai_usage_logs'::regclass`,
        )
      ).rows.map((r: { relname: string }) => r.relname);
      expect(partitions).toContain('ai_usage_logs_2031_05');
      const { rows: indexes } = await db.raw(
        `SELECT t.relname AS part, pg_get_indexdef(i.inhrelid) AS def, x.indisvalid AS valid FROM pg_inherits i
         JOIN pg_index x ON x.indexrelid = i.inhrelid JOIN pg_class t ON t.oid = x.indrelid
         WHERE i.inhparent = 'ai_usage_logs_feature_time'::regclass`,
      );
      expect(indexes.map((r: { part: string }) => r.part).sort()).toEqual([...partitions].sort());
      for (const r of indexes) {
        expect(r.valid).toBe(true);
        expect(r.def).toContain('(feature_id, created_at) INCLUDE (environment, response_time_ms, status, cost_usd)');
      }
      const { rows: options } = await db.raw(
        `SELECT c.relname, c.reloptions FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ai_usage_logs'::regclass`,
      );
      for (const r of options)
        expect(r.reloptions, r.relname).toEqual(
          expect.arrayContaining(['autovacuum_vacuum_insert_threshold=100000', 'autovacuum_vacuum_insert_scale_factor=0']),
        );
      const plan = await db.transaction(async (trx) => {
        await trx.raw('SET LOCAL enable_seqscan = off');
        await trx.raw('SET LOCAL enable_bitmapscan = off');
        const { rows } = await trx.raw(
          `EXPLAIN SELECT count(*) FILTER (WHERE status = 'success'), sum(response_time_ms), sum(cost_usd),
                  percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) FROM ai_usage_logs
           WHERE feature_id = gen_random_uuid() AND environment = 'production' AND created_at >= '2031-05-01' AND created_at < '2031-05-02'`,
        );
        return rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      });
      expect(plan).toContain('Index Only Scan using ai_usage_logs_2031_05_');
    });
  });
});
