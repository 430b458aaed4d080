import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import type { Row } from '../db/tables.ts';
import { providerSummaries } from '../metrics/summaries.ts';
import type { Observation } from './alert-state.ts';

/**
 * Provider health rules read the health score of the providers serving the feature (SPEC §4, last
 * 24 hours, capped after a failed probe: the providers page's figure) in the rule's environment (or
 * any): the lowest of them, with their requests as the sample. Read in a snapshot of its own.
 */
export async function providerHealthReader(db: Db, at: Date) {
  const serving = await activeAssignments(db);
  const health = await providerSummaries(db, [...new Set(serving.map((a) => a.provider_id))], at);
  return (rule: Row<'alert_rules'>, featureId: string): Observation => {
    const providers = new Set(
      serving
        .filter((a) => a.feature_id === featureId && (rule.environment === null || a.environment === rule.environment))
        .map((a) => a.provider_id),
    );
    const figures = [...providers].map((id) => health.get(id)!);
    const scores = figures.map((h) => h.health_score).filter((s): s is number => s !== null);
    return { value: scores.length ? Math.min(...scores) : null, sample_n: figures.reduce((n, h) => n + h.total_requests, 0) };
  };
}
