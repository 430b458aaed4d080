import type { Knex } from 'knex';

// The rollups by bucket alone: a read of every feature's figures (the overview, the feature cards)
// takes a window's rows in one range scan per rollup instead of an index probe per feature (issue 19;
// src/metrics/segments.ts :every). The fold's updates change no indexed column, so the index gains
// an entry where the primary key does: for a new row (or an update that cannot stay on its page).
const ROLLUPS = ['usage_rollup_minute', 'usage_rollup_hour', 'usage_rollup_day'];

export async function up(knex: Knex): Promise<void> {
  for (const t of ROLLUPS) await knex.raw(`CREATE INDEX ${t}_bucket ON ${t} (bucket)`);
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ROLLUPS) await knex.raw(`DROP INDEX ${t}_bucket`);
}
