import type { Knex } from 'knex';
import { replaceIndex } from './20261129020000_usage_feature_index_covering.ts';

// Issue 19: with many features (the overview's 200), those with few requests in a range get their
// headline sums and exact percentiles from their raw rows in one read of this index per feature
// (metrics/few-requests.ts), rather than from every feature's hour and minute rollup rows. The sums
// need each row's status and cost too: carried here (INCLUDE), the read stays an index-only scan. At 200
// features that read took ~6 ms instead of ~9–13 ms with a heap fetch per row.
// Built as 20261129020000 built the index it replaces: concurrently, partition by partition, no transaction.

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await replaceIndex(knex, '(feature_id, created_at) INCLUDE (environment, response_time_ms, status, cost_usd)', 'feature_time_sums');
}

export async function down(knex: Knex): Promise<void> {
  await replaceIndex(knex, '(feature_id, created_at) INCLUDE (environment, response_time_ms)', 'feature_time_covering');
}
