import type { Knex } from 'knex';

// Budget marks (issue 17) are told through the alert of the feature's spend rule: its history gets a
// 'budget' event carrying the message ("80% used ($400.12 of $500) — projected $612 by 30 Nov").
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
    ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN ('transition', 'repeat', 'ack', 'unsilenced', 'budget'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM alert_events WHERE kind = 'budget';
    ALTER TABLE alert_events DROP CONSTRAINT alert_events_kind_check;
    ALTER TABLE alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN ('transition', 'repeat', 'ack', 'unsilenced'));
  `);
}
