import type { Knex } from 'knex';

// Unique users per environment (SPEC §4 "a feature's figures per environment"). Distinct users cannot be
// added up across environments, so the rows counting every environment stay, as environment 'all', beside
// one set of rows per environment. The per-environment rows are backfilled from the raw rows the rollups
// have already read (ids up to the cursor); rows past it are folded by the next tick as usual.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE usage_feature_users
      ADD COLUMN environment text NOT NULL DEFAULT 'all'
        CHECK (environment IN ('development', 'staging', 'production', 'all'));
    ALTER TABLE usage_feature_users ALTER COLUMN environment DROP DEFAULT;
    ALTER TABLE usage_feature_users DROP CONSTRAINT usage_feature_users_pkey;
    ALTER TABLE usage_feature_users ADD PRIMARY KEY (feature_id, environment, end_user_id);

    ALTER TABLE usage_user_hour_counts
      ADD COLUMN environment text NOT NULL DEFAULT 'all'
        CHECK (environment IN ('development', 'staging', 'production', 'all'));
    ALTER TABLE usage_user_hour_counts ALTER COLUMN environment DROP DEFAULT;
    ALTER TABLE usage_user_hour_counts DROP CONSTRAINT usage_user_hour_counts_pkey;
    ALTER TABLE usage_user_hour_counts ADD PRIMARY KEY (feature_id, environment, hour);

    INSERT INTO usage_feature_users (feature_id, environment, end_user_id, last_seen_hour)
    SELECT l.feature_id, l.environment, l.end_user_id, date_trunc('hour', max(l.created_at), 'UTC')
    FROM ai_usage_logs l
    WHERE l.end_user_id IS NOT NULL AND l.id <= (SELECT last_id FROM rollup_cursors WHERE name = 'usage')
    GROUP BY 1, 2, 3;

    INSERT INTO usage_user_hour_counts (feature_id, environment, hour, users)
    SELECT feature_id, environment, last_seen_hour, count(*)::int
    FROM usage_feature_users WHERE environment <> 'all'
    GROUP BY 1, 2, 3;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM usage_feature_users WHERE environment <> 'all';
    ALTER TABLE usage_feature_users DROP CONSTRAINT usage_feature_users_pkey;
    ALTER TABLE usage_feature_users DROP COLUMN environment;
    ALTER TABLE usage_feature_users ADD PRIMARY KEY (feature_id, end_user_id);

    DELETE FROM usage_user_hour_counts WHERE environment <> 'all';
    ALTER TABLE usage_user_hour_counts DROP CONSTRAINT usage_user_hour_counts_pkey;
    ALTER TABLE usage_user_hour_counts DROP COLUMN environment;
    ALTER TABLE usage_user_hour_counts ADD PRIMARY KEY (feature_id, hour);
  `);
}
