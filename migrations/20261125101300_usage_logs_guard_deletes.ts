import type { Knex } from 'knex';

// ai_usage_logs is the hottest table: three foreign-key triggers per row were a third of the cost
// of every ingested batch. Usage rows still only name features, models and providers that exist
// (ingestion resolves them against the catalogue and joins them in the insert); what the foreign
// keys also did, refusing to delete a feature, model or provider that has usage, these guards do
// on the rare delete instead of on every insert. The guard takes the ingestion lock exclusively,
// so no batch can slip a row in between its check and its commit (0x5b0002 is INGEST_LOCK of
// src/metrics/rollup.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ai_usage_logs DROP CONSTRAINT ai_usage_logs_feature_id_fkey;
    ALTER TABLE ai_usage_logs DROP CONSTRAINT ai_usage_logs_model_id_fkey;
    ALTER TABLE ai_usage_logs DROP CONSTRAINT ai_usage_logs_provider_id_fkey;

    CREATE FUNCTION usage_refuse_orphaning() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      used boolean;
    BEGIN
      PERFORM pg_advisory_xact_lock(${0x5b_0002});
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM ai_usage_logs WHERE %I = $1)', TG_ARGV[0]) INTO used USING OLD.id;
      IF used THEN
        RAISE EXCEPTION 'cannot delete % %: usage events refer to it', TG_TABLE_NAME, OLD.id
          USING ERRCODE = 'foreign_key_violation';
      END IF;
      RETURN OLD;
    END $$;
    CREATE TRIGGER ai_features_keep_usage BEFORE DELETE ON ai_features
      FOR EACH ROW EXECUTE FUNCTION usage_refuse_orphaning('feature_id');
    CREATE TRIGGER ai_models_keep_usage BEFORE DELETE ON ai_models
      FOR EACH ROW EXECUTE FUNCTION usage_refuse_orphaning('model_id');
    CREATE TRIGGER ai_providers_keep_usage BEFORE DELETE ON ai_providers
      FOR EACH ROW EXECUTE FUNCTION usage_refuse_orphaning('provider_id');
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER ai_providers_keep_usage ON ai_providers;
    DROP TRIGGER ai_models_keep_usage ON ai_models;
    DROP TRIGGER ai_features_keep_usage ON ai_features;
    DROP FUNCTION usage_refuse_orphaning();
    ALTER TABLE ai_usage_logs ADD FOREIGN KEY (feature_id) REFERENCES ai_features (id) ON DELETE RESTRICT;
    ALTER TABLE ai_usage_logs ADD FOREIGN KEY (model_id) REFERENCES ai_models (id) ON DELETE RESTRICT;
    ALTER TABLE ai_usage_logs ADD FOREIGN KEY (provider_id) REFERENCES ai_providers (id) ON DELETE RESTRICT;
  `);
}
