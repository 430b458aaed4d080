import type { Knex } from 'knex';

// The rollout guard raises through alerting (issue 18): a rule kind `rollout_regression` (one system
// rule per feature, made when its first rollout starts) and an alert event kind `rollout` (an
// automatic action of the guard told in the alert's history: advance, hold, pause, roll back).
const RULE_KINDS = `'error_rate', 'p95_latency', 'traffic_below', 'provider_health', 'spend_month', 'spend_projected', 'cost_per_request'`;
const EVENT_KINDS = `'transition', 'repeat', 'ack', 'unsilenced', 'budget'`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_kind_check;
    ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (${RULE_KINDS}, 'rollout_regression'));
    ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
    ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (${EVENT_KINDS}, 'rollout'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM alert_events WHERE kind = 'rollout';
    DELETE FROM alert_rules WHERE kind = 'rollout_regression';
    ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
    ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (${EVENT_KINDS}));
    ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_kind_check;
    ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (${RULE_KINDS}));
  `);
}
