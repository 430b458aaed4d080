import type { Knex } from 'knex';

// Alerting (issue 17, SPEC §10.4). Design note for whoever continues this work:
// - alert_rules: a condition on one feature (feature_id) or on every feature (null), in one
//   environment (null: all). Breach when value >= threshold (traffic_below: requests < threshold);
//   clear when value < resolve_threshold (traffic_below: requests >= resolve_threshold), so the band
//   between the two is hysteresis. `for_min` consecutive breaching minutes fire, `resolve_for_min`
//   consecutive clear minutes resolve. Below `min_requests` the `no_data` policy applies (ok: counts
//   as clear, keep: nothing moves, alert: counts as a breach). Rules with is_default are created and
//   kept in line with the feature's thresholds and budget by the alerts job.
// - alerts: one row per rule × subject (a feature), its state machine ok → pending → firing →
//   recovering → ok, the acknowledgement, and `owes_notice` (a notification was silenced while firing:
//   one message goes out when the silence ends).
// - alert_events: append-only history (transitions, repeats, acks, silence ends, budget marks).
// - alert_ticks: the last minute the alerts job evaluated (each minute once, as of that minute).
// - silences: matchers (null matches anything), until, reason.
// - notification_channels: webhook or Slack URL, the HMAC secret sealed like provider keys.
// - notification_deliveries: the outbox; its id is the X-Switchboard-Delivery header, the same
//   across retries; the body is frozen when the event happens.
// - budget_marks: each budget mark of a feature fires once per month.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE notification_channels (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      kind              text NOT NULL CHECK (kind IN ('webhook', 'slack')),
      url               text NOT NULL,
      secret_ciphertext bytea,
      enabled           boolean NOT NULL DEFAULT true,
      created_by        text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX notification_channels_name ON notification_channels (lower(name));

    CREATE TABLE alert_rules (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id        uuid REFERENCES ai_features (id) ON DELETE CASCADE,
      environment       text CHECK (environment IN ('development', 'staging', 'production')),
      kind              text NOT NULL CHECK (kind IN ('error_rate', 'p95_latency', 'traffic_below', 'provider_health',
                                                      'spend_month', 'spend_projected', 'cost_per_request')),
      threshold         numeric NOT NULL CHECK (threshold >= 0),
      resolve_threshold numeric CHECK (resolve_threshold >= 0),
      window_min        integer NOT NULL DEFAULT 5 CHECK (window_min BETWEEN 1 AND 1440),
      for_min           integer NOT NULL DEFAULT 5 CHECK (for_min BETWEEN 1 AND 1440),
      resolve_for_min   integer CHECK (resolve_for_min BETWEEN 1 AND 1440),
      min_requests      integer NOT NULL DEFAULT 0 CHECK (min_requests >= 0),
      no_data           text NOT NULL DEFAULT 'keep' CHECK (no_data IN ('ok', 'keep', 'alert')),
      repeat_min        integer NOT NULL DEFAULT 240 CHECK (repeat_min BETWEEN 5 AND 10080),
      severity          text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
      channel_ids       uuid[] NOT NULL DEFAULT '{}',
      enabled           boolean NOT NULL DEFAULT true,
      is_default        boolean NOT NULL DEFAULT false,
      created_by        text NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX alert_rules_default ON alert_rules (feature_id, kind) WHERE is_default;
    CREATE INDEX alert_rules_feature ON alert_rules (feature_id);

    CREATE TABLE alerts (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      rule_id          uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
      feature_id       uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      state            text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'pending', 'firing', 'recovering')),
      since            timestamptz NOT NULL,
      started_at       timestamptz,
      last_value       numeric,
      last_sample_n    bigint,
      evaluated_at     timestamptz NOT NULL,
      last_notified_at timestamptz,
      owes_notice      boolean NOT NULL DEFAULT false,
      acked_by         text,
      acked_at         timestamptz,
      ack_note         text,
      UNIQUE (rule_id, feature_id)
    );
    CREATE INDEX alerts_open ON alerts (feature_id) WHERE state <> 'ok';

    CREATE TABLE alert_events (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      alert_id   uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
      kind       text NOT NULL CHECK (kind IN ('transition', 'repeat', 'ack', 'unsilenced')),
      from_state text,
      to_state   text,
      value      numeric,
      threshold  numeric,
      sample_n   bigint,
      note       text,
      actor      text,
      at         timestamptz NOT NULL
    );
    CREATE INDEX alert_events_alert ON alert_events (alert_id, id);
    CREATE INDEX alert_events_at ON alert_events (at DESC);
    CREATE RULE alert_events_no_update AS ON UPDATE TO alert_events DO INSTEAD NOTHING;

    CREATE TABLE alert_ticks (
      name         text PRIMARY KEY,
      evaluated_to timestamptz NOT NULL
    );

    CREATE TABLE silences (
      id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      feature_id  uuid REFERENCES ai_features (id) ON DELETE CASCADE,
      environment text CHECK (environment IN ('development', 'staging', 'production')),
      kind        text,
      severity    text CHECK (severity IN ('info', 'warning', 'critical')),
      starts_at   timestamptz NOT NULL,
      ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
      reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      created_by  text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX silences_ends ON silences (ends_at);

    CREATE TABLE notification_deliveries (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      event_id         bigint REFERENCES alert_events (id) ON DELETE CASCADE,
      channel_id       uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
      payload          jsonb NOT NULL,
      status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_flight', 'delivered', 'failed', 'silenced')),
      attempts         integer NOT NULL DEFAULT 0,
      next_attempt_at  timestamptz NOT NULL,
      last_attempt_at  timestamptz,
      last_status_code integer,
      last_error       text,
      created_at       timestamptz NOT NULL
    );
    CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status IN ('pending', 'in_flight');
    CREATE INDEX notification_deliveries_created ON notification_deliveries (created_at DESC);

    CREATE TABLE budget_marks (
      feature_id uuid NOT NULL REFERENCES ai_features (id) ON DELETE CASCADE,
      month      date NOT NULL,
      mark       text NOT NULL CHECK (mark IN ('50', '80', '100', 'projected')),
      fired_at   timestamptz NOT NULL,
      message    text NOT NULL,
      PRIMARY KEY (feature_id, month, mark)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE budget_marks, notification_deliveries, silences, alert_ticks, alert_events, alerts, alert_rules, notification_channels
  `);
}
