import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_log (
      id          bigserial PRIMARY KEY,
      occurred_at timestamptz NOT NULL DEFAULT now(),
      actor_type  text NOT NULL CHECK (actor_type IN ('user', 'token', 'system')),
      actor_id    uuid,
      actor_label text NOT NULL,
      action      text NOT NULL CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
      entity_type text NOT NULL,
      entity_id   text,
      before      jsonb,
      after       jsonb
    );
    CREATE INDEX audit_log_recent ON audit_log (occurred_at DESC);
    CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, occurred_at DESC);

    -- Append-only: the database itself refuses to change or remove history.
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only';
    END $$;
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE audit_log; DROP FUNCTION audit_log_refuse_change();');
}
