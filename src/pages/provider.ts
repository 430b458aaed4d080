import { type Adjusted, type ColumnMap, columns, type Selected } from '../db/columns.ts';
import type { Db } from '../db/knex.ts';
import { listModels, type ProviderRow } from '../db/queries/catalogue.ts';
import { providerHealthHistory } from '../metrics/health-history.ts';
import { healthScore, latencyScore } from '../metrics/scores.ts';
import { modelSummaries, providerSummaries } from '../metrics/summaries.ts';
import { toCsv } from './csv.ts';

const RECENT_CHECKS = 20;

/** What each kind of health check is called on the page (health_checks.kind). */
const CHECK_KINDS: Record<string, string> = { probe: 'probe', manual: 'connection test', smoke: 'smoke request' };

/** Probes, connection tests and smoke requests of a provider, newest first. */
type CheckJoin = { h: 'health_checks'; m: 'ai_models' };
const CHECK_COLUMNS = {
  kind: 'h.kind',
  status: 'h.status',
  latency_ms: 'h.latency_ms',
  error: 'h.error',
  checked_at: 'h.checked_at',
  model_display_name: 'm.display_name',
} as const satisfies ColumnMap<CheckJoin>;
/** A check as the page lists it (a provider-wide probe names no model). */
type CheckRow = Adjusted<Selected<CheckJoin, typeof CHECK_COLUMNS>, { model_display_name: string | null }>;

async function recentChecks(db: Db, providerId: string): Promise<CheckRow[]> {
  return db('health_checks as h')
    .leftJoin('ai_models as m', 'm.id', 'h.model_id')
    .where('h.provider_id', providerId)
    .orderBy('h.checked_at', 'desc')
    .orderBy('h.id', 'desc')
    .limit(RECENT_CHECKS)
    .select(columns(CHECK_COLUMNS));
}

/** Everything the provider page shows: its 24 h health and how the score comes about, its models, its checks. */
export async function providerPage(db: Db, provider: ProviderRow, now: Date) {
  const models = (await listModels(db)).filter((m) => m.provider_id === provider.id);
  const [summaries, modelFigures, history, checks] = await Promise.all([
    providerSummaries(db, [provider.id], now),
    modelSummaries(
      db,
      models.map((m) => m.id),
      '24h',
      now,
    ),
    providerHealthHistory(db, provider.id, now),
    recentChecks(db, provider.id),
  ]);
  const summary = summaries.get(provider.id)!;
  return {
    summary,
    // The score's terms with today's numbers, for "how the score is computed".
    terms:
      summary.success_rate === null || summary.uptime === null || summary.response_time === null
        ? null
        : {
            success_rate: summary.success_rate!,
            uptime: summary.uptime!,
            latency_score: latencyScore(summary.response_time!),
            uncapped: healthScore(summary, false)!,
          },
    models: models.map((m) => ({ ...m, summary: modelFigures.get(m.id)! })),
    /** The hour-by-hour inputs, newest hour first (the CSV keeps them oldest first). */
    history: history.slice().reverse(),
    checks: checks.map((c) => ({ ...c, kind_label: CHECK_KINDS[c.kind] ?? c.kind })),
  };
}

/** The page's main table, the hour-by-hour health inputs, as CSV. */
export async function providerHealthCsv(db: Db, provider: ProviderRow, now: Date): Promise<string> {
  const history = await providerHealthHistory(db, provider.id, now);
  return toCsv(
    ['hour_start_utc', 'requests', 'success_rate_pct', 'uptime_pct', 'response_time_ms', 'latency_score', 'health_score'],
    history.map((h) => [h.from.toISOString(), h.requests, h.success_rate, h.uptime, h.response_time, h.latency_score, h.health_score]),
  );
}
