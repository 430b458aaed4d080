import type { Db } from '../db/knex.ts';

/** What a default rule watches by default: production, 5-minute windows, 5 minutes to fire, at least 10 requests. */
export const DEFAULT_RULE = { environment: 'production', window_min: 5, for_min: 5, min_requests: 10 } as const;

/**
 * Every feature in use has default rules from its settings (SPEC §10.4): error rate over its
 * error-rate threshold, p95 over its latency threshold, and month-to-date spend over its budget when
 * it has one. They follow the settings as they change; a feature without a budget has no spend rule.
 * An admin may disable a default rule, or add rules of their own.
 */
export async function syncDefaultRules(db: Db): Promise<void> {
  await db.raw(
    `INSERT INTO alert_rules AS r (feature_id, environment, kind, threshold, window_min, for_min, min_requests, is_default, created_by)
     SELECT f.id, :environment, k.kind,
            CASE k.kind WHEN 'error_rate' THEN f.error_rate_threshold WHEN 'p95_latency' THEN f.latency_threshold_ms ELSE f.monthly_budget_usd END,
            CASE k.kind WHEN 'spend_month' THEN 1 ELSE :window_min END, CASE k.kind WHEN 'spend_month' THEN 1 ELSE :for_min END,
            CASE k.kind WHEN 'spend_month' THEN 0 ELSE :min_requests END, true, 'system'
     FROM ai_features f CROSS JOIN (VALUES ('error_rate'), ('p95_latency'), ('spend_month')) AS k (kind)
     WHERE f.archived_at IS NULL AND (k.kind <> 'spend_month' OR f.monthly_budget_usd IS NOT NULL)
     ON CONFLICT (feature_id, kind) WHERE is_default
     DO UPDATE SET threshold = excluded.threshold, updated_at = now() WHERE r.threshold IS DISTINCT FROM excluded.threshold`,
    DEFAULT_RULE,
  );
  await db.raw(
    `DELETE FROM alert_rules r USING ai_features f
     WHERE r.is_default AND r.kind = 'spend_month' AND f.id = r.feature_id AND f.monthly_budget_usd IS NULL`,
  );
}
