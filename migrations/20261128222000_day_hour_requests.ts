import type { Knex } from 'knex';

// Issue 19: a 30-day dashboard's requests by local hour read every hour row of the window (720 hours
// times each model, provider, environment and prompt version: ~2,200 rows for one busy feature at 30M
// events), the slowest read of the slowest range. Each day row now also keeps its requests per UTC
// hour of that day (hour_requests[1] is 00:00–01:00 UTC), maintained by the fold; local hours then
// read whole days from day rows. Existing day rows are filled from their hour rows, which the rollups
// keep for as long as the day rows.
const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** The 24 hourly request counts of a day, from the hour rollup rows `h` of that day (epoch hours are UTC). */
const hourArray = HOURS.map(
  (h) => `coalesce(sum(h.requests) FILTER (WHERE (extract(epoch FROM h.bucket)::bigint / 3600) % 24 = ${h}), 0)::int`,
).join(', ');

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE usage_rollup_day ADD COLUMN hour_requests integer[] NOT NULL DEFAULT array_fill(0, ARRAY[24]);
    UPDATE usage_rollup_day d SET hour_requests = x.a
    FROM (
      SELECT date_bin('1 day', h.bucket, timestamptz 'epoch') AS day, h.feature_id, h.model_id, h.provider_id, h.environment,
             h.prompt_version, ARRAY[${hourArray}] AS a
      FROM usage_rollup_hour h GROUP BY 1, 2, 3, 4, 5, 6
    ) x
    WHERE d.bucket = x.day AND d.feature_id = x.feature_id AND d.model_id = x.model_id AND d.provider_id = x.provider_id
      AND d.environment = x.environment AND d.prompt_version = x.prompt_version;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE usage_rollup_day DROP COLUMN hour_requests');
}
