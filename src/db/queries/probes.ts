import type { Knex } from 'knex';
import type { LastProbe } from '../../services/deployability.ts';

// A provider's latest probe or connection test, joined beside the provider (`ai_providers as p`) in
// the query that lists it, so a page asks once for all its rows: `LEFT JOIN LATERAL … lp ON true`.
// While the probes keep failing, `failing_since` is the first failure after the last success.

const PROVIDER_CHECKS = `h.provider_id = p.id AND h.kind IN ('probe', 'manual')`;

const LAST_PROBE_LATERAL = `LEFT JOIN LATERAL (
  SELECT h.status = 'ok' AS ok, h.error, h.checked_at,
    CASE WHEN h.status = 'error' THEN (
      SELECT min(h.checked_at) FROM health_checks h WHERE ${PROVIDER_CHECKS}
        AND h.checked_at > coalesce((SELECT max(h.checked_at) FROM health_checks h WHERE ${PROVIDER_CHECKS} AND h.status = 'ok'), '-infinity')
    ) END AS failing_since
  FROM health_checks h WHERE ${PROVIDER_CHECKS} ORDER BY h.checked_at DESC, h.id DESC LIMIT 1
) lp ON true`;

/** The columns the join adds to each row. */
export interface LastProbeColumns {
  probe_ok: boolean | null;
  probe_error: string | null;
  probe_checked_at: Date | null;
  probe_failing_since: Date | null;
}

/** Joins the provider's last probe to a query on `ai_providers as p` and selects its columns. */
export function withLastProbe<Q extends Knex.QueryBuilder>(db: Knex, q: Q): Q {
  return q
    .joinRaw(LAST_PROBE_LATERAL)
    .select(
      db.raw('lp.ok AS probe_ok, lp.error AS probe_error, lp.checked_at AS probe_checked_at, lp.failing_since AS probe_failing_since'),
    ) as Q;
}

/** The joined columns as one value, null when the provider was never probed. */
export const lastProbeOf = (r: LastProbeColumns): LastProbe | null =>
  r.probe_ok === null || r.probe_checked_at === null
    ? null
    : { ok: r.probe_ok, error: r.probe_error, checked_at: r.probe_checked_at, failing_since: r.probe_failing_since };
