import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ai_usage_logs (
      id               bigserial,
      event_id         text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
      feature_id       uuid NOT NULL REFERENCES ai_features (id) ON DELETE RESTRICT,
      model_id         uuid NOT NULL REFERENCES ai_models (id) ON DELETE RESTRICT,
      provider_id      uuid NOT NULL REFERENCES ai_providers (id) ON DELETE RESTRICT,
      environment      text NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
      end_user_id      text CHECK (length(end_user_id) <= 200),
      status           text NOT NULL CHECK (status IN ('success', 'error', 'timeout')),
      response_time_ms integer NOT NULL CHECK (response_time_ms >= 0),
      input_tokens     integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
      output_tokens    integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
      cost_usd         numeric(14, 8) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
      -- The part of cost_usd spent on input tokens (the rest is output): the cost breakdown by direction.
      input_cost_usd   numeric(14, 8) NOT NULL DEFAULT 0 CHECK (input_cost_usd >= 0 AND input_cost_usd <= cost_usd),
      created_at       timestamptz NOT NULL,
      ingested_at      timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (id, created_at)
    ) PARTITION BY RANGE (created_at);

    -- Events outside every monthly partition still land (and count) here.
    CREATE TABLE ai_usage_logs_default PARTITION OF ai_usage_logs DEFAULT;

    CREATE INDEX ai_usage_logs_feature_time ON ai_usage_logs (feature_id, created_at);
    CREATE INDEX ai_usage_logs_model_time ON ai_usage_logs (model_id, created_at);
    CREATE INDEX ai_usage_logs_provider_time ON ai_usage_logs (provider_id, created_at);

    -- A unique key on a partitioned table must contain the partition key, and a retried event may
    -- carry another created_at: so event ids are made unique in a table of their own.
    CREATE TABLE ai_usage_event_keys (
      event_id   text PRIMARY KEY,
      created_at timestamptz NOT NULL
    );

    -- Creates the monthly partitions [first month, first month + months). Rows already in the
    -- default partition for a new month are moved into it, so a late-created partition never fails.
    CREATE FUNCTION ensure_usage_partitions(first_month date, months integer) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
      m date;
      part text;
      created integer := 0;
    BEGIN
      FOR i IN 0 .. months - 1 LOOP
        m := (date_trunc('month', first_month) + make_interval(months => i))::date;
        part := format('ai_usage_logs_%s', to_char(m, 'YYYY_MM'));
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        IF EXISTS (SELECT 1 FROM ai_usage_logs_default
                   WHERE created_at >= m AND created_at < m + interval '1 month') THEN
          EXECUTE format('CREATE TABLE %I (LIKE ai_usage_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
          EXECUTE format('WITH moved AS (DELETE FROM ai_usage_logs_default WHERE created_at >= %L AND created_at < %L RETURNING *)
                          INSERT INTO %I SELECT * FROM moved', m, m + interval '1 month', part);
          EXECUTE format('ALTER TABLE ai_usage_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                         part, m, m + interval '1 month');
        ELSE
          EXECUTE format('CREATE TABLE %I PARTITION OF ai_usage_logs FOR VALUES FROM (%L) TO (%L)',
                         part, m, m + interval '1 month');
        END IF;
        created := created + 1;
      END LOOP;
      RETURN created;
    END $$;

    SELECT ensure_usage_partitions((now() - interval '2 months')::date, 6);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION ensure_usage_partitions(date, integer);
    DROP TABLE ai_usage_event_keys;
    DROP TABLE ai_usage_logs;
  `);
}
