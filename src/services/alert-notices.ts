import type { Db } from '../db/knex.ts';
import type { Row } from '../db/tables.ts';
import type { AlertState } from '../domain.ts';

// Notices: an alert event worth a message becomes one outbox row per channel of its rule (the
// deliveries job sends them). The body is frozen here, so every attempt sends the same one.

type Rule = Row<'alert_rules'>;
type Silence = Row<'silences'>;

/** Whether a silence covers a rule's alert on a feature at a time (a matcher left empty matches anything). */
export const silences = (s: Silence, rule: Rule, featureId: string, at: Date) =>
  s.starts_at <= at &&
  at < s.ends_at &&
  (s.feature_id === null || s.feature_id === featureId) &&
  (s.environment === null || s.environment === rule.environment) &&
  (s.kind === null || s.kind === rule.kind) &&
  (s.severity === null || s.severity === rule.severity);

export interface NoticeInput {
  alert: { id: string; started_at: Date | null };
  rule: Rule;
  feature: { id: string; name: string };
  event: {
    id: number;
    kind: string;
    from_state: AlertState | null;
    to_state: AlertState | null;
    value: number | null;
    sample_n: number | null;
  };
  /** firing, resolved, repeat, unsilenced or budget. */
  notice: string;
  at: Date;
  /** What a notice of its own kind adds to the body (a budget mark's figures and message). */
  extra?: Record<string, unknown>;
}

/** The webhook body (SPEC §10.4): what happened, the state it came from, and where to look. */
export function noticePayload(n: NoticeInput) {
  return {
    notice: n.notice,
    alert_id: n.alert.id,
    rule: { id: n.rule.id, kind: n.rule.kind, severity: n.rule.severity },
    feature: n.feature,
    environment: n.rule.environment,
    previous_state: n.event.from_state,
    state: n.event.to_state,
    value: n.event.value,
    threshold: n.rule.threshold,
    resolve_threshold: n.rule.resolve_threshold ?? n.rule.threshold,
    window_minutes: n.rule.window_min,
    sample_n: n.event.sample_n,
    started_at: n.alert.started_at?.toISOString() ?? null,
    at: n.at.toISOString(),
    links: { alert: `/alerts/${n.alert.id}` },
    ...n.extra,
  };
}

/** Queues the notices to the rule's enabled channels, each marked silenced when a silence covers it. */
export async function queueNotices(db: Db, notices: (NoticeInput & { silenced: boolean })[]): Promise<void> {
  const channelIds = [...new Set(notices.flatMap((n) => n.rule.channel_ids))];
  if (!channelIds.length) return;
  const enabled = new Set(await db('notification_channels').whereIn('id', channelIds).where('enabled', true).pluck('id'));
  const rows = notices.flatMap((n) =>
    n.rule.channel_ids
      .filter((c) => enabled.has(c))
      .map((channel_id) => ({
        event_id: n.event.id,
        channel_id,
        payload: JSON.stringify(noticePayload(n)),
        status: n.silenced ? ('silenced' as const) : ('pending' as const),
        next_attempt_at: n.at,
        created_at: n.at,
      })),
  );
  if (rows.length) await db('notification_deliveries').insert(rows);
}
