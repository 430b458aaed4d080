import type { Knex } from 'knex';

// Issue 19: ingestion maintains every index of ai_usage_logs for every event. A provider's raw rows
// are those of its models (each event's provider is its model's, and a model's provider never
// changes: 20261129010000's trigger refuses it), so they are read through the model index
// (metrics/segments.ts rawRowsOf) and the provider index goes: one btree fewer per event, measured
// −10% of PostgreSQL's CPU for a batch of events. A partitioned index cannot be dropped concurrently;
// dropping takes a brief exclusive lock.

export async function up(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX ai_usage_logs_provider_time');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX ai_usage_logs_provider_time ON ai_usage_logs (provider_id, created_at)');
}
