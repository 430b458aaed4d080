import type { Knex } from 'knex';

// Issue 19: the rollup fold groups each minute's raw rows on the model and looks its provider up once
// per group, instead of grouping every raw row on the provider too (~6% of a tick). That is exact
// because ingestion writes each event's provider from its model, and a model's provider never changes:
// the API already refuses it (src/services/models.ts); now the database does too, for any writer.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION model_provider_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'cannot move model % to another provider: its usage is recorded under its provider', OLD.id
        USING ERRCODE = 'check_violation';
    END $$;
    CREATE TRIGGER ai_models_provider_fixed BEFORE UPDATE OF provider_id ON ai_models
      FOR EACH ROW WHEN (NEW.provider_id IS DISTINCT FROM OLD.provider_id) EXECUTE FUNCTION model_provider_fixed();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER ai_models_provider_fixed ON ai_models;
    DROP FUNCTION model_provider_fixed();
  `);
}
