/**
 * Every console URL, built in one place: app.ts mounts the routers under these prefixes, handlers
 * redirect to them, and templates link through `it.url` (the same object). State lives in the query
 * string; `undefined` and empty values are left out, so a link carries only what it sets.
 */
export const BASE = '/platform/ai-management';

export const PREFIX = {
  features: `${BASE}/features`,
  models: `${BASE}/models`,
  providers: `${BASE}/providers`,
  deployments: `${BASE}/deployments`,
  audit: `${BASE}/audit`,
  apiKeys: `${BASE}/api-keys`,
  approvals: `${BASE}/approvals`,
  rollouts: `${BASE}/rollouts`,
  alerts: `${BASE}/alerts`,
  api: `/api${BASE}`,
} as const;

export type QueryValues = Record<string, string | number | boolean | undefined | null>;

/** `path?query` (or `path&query` when the path has one already) with the defined, non-empty values in the order given. */
export function withQuery(path: string, query: QueryValues = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

const seg = (s: string) => encodeURIComponent(s);

export const url = {
  overview: () => BASE,
  /** The features page; `feature`, `tab`, `range`, `environment` as in SPEC §5. */
  features: (query: QueryValues = {}) => withQuery(PREFIX.features, query),
  /** A form target under a feature: `models`, `promote`, `rollback`, … */
  featureAction: (slug: string, action: string) => `${PREFIX.features}/${seg(slug)}/${action}`,
  /** Models & providers; `tab` = providers (default) | models | deployments, with that tab's filters. */
  catalogue: (query: QueryValues = {}) => withQuery(PREFIX.models, query),
  /** A model's page, or one of its sub-pages (`edit`, `deploy`) or form targets (`archive`, `unarchive`). */
  model: (id: string, sub?: 'edit' | 'deploy' | 'archive' | 'unarchive', query: QueryValues = {}) =>
    withQuery(`${PREFIX.models}/${seg(id)}${sub ? `/${sub}` : ''}`, query),
  compare: (query: QueryValues = {}) => withQuery(`${PREFIX.models}/compare`, query),
  /** A provider's page, or a form target under it (`status`, `test`, `archive`, `unarchive`). */
  provider: (slug: string, sub?: 'status' | 'test' | 'archive' | 'unarchive', query: QueryValues = {}) =>
    withQuery(`${PREFIX.providers}/${seg(slug)}${sub ? `/${sub}` : ''}`, query),
  providers: () => PREFIX.providers,
  deployment: (id: string) => `${PREFIX.deployments}/${seg(id)}`,
  audit: (query: QueryValues = {}) => withQuery(PREFIX.audit, query),
  apiKeys: () => PREFIX.apiKeys,
  /** Protected environments and change requests; `action` = approve | reject under a request, or a policy form. */
  approvals: () => PREFIX.approvals,
  changeRequest: (id: string, action: 'approve' | 'reject') => `${PREFIX.approvals}/${seg(id)}/${action}`,
  environmentPolicy: (environment: string) => `${PREFIX.approvals}/policies/${seg(environment)}`,
  changeRequestApi: (id: string) => `${PREFIX.api}/change-requests/${seg(id)}`,
  apiKeyRevoke: (id: string) => `${PREFIX.apiKeys}/${seg(id)}/revoke`,
  /** The Alerts page (`table` + `format=csv` for one of its tables), or a form target under it: `rules`, `silences`, `channels`. */
  alerts: (query: QueryValues = {}) => withQuery(PREFIX.alerts, query),
  alertsAction: (what: 'rules' | 'silences' | 'channels') => `${PREFIX.alerts}/${what}`,
  /** An alert's page, or its `ack` and `silence` form targets. */
  alert: (id: string, sub?: 'ack' | 'silence') => `${PREFIX.alerts}/${seg(id)}${sub ? `/${sub}` : ''}`,
  /** A form target under a rule (`toggle`, `delete`), a silence (`end`), a channel (`test`) or a delivery (`resend`). */
  alertItem: (
    what: 'rules' | 'silences' | 'channels' | 'deliveries',
    id: string,
    action: 'toggle' | 'delete' | 'end' | 'test' | 'resend',
  ) => `${PREFIX.alerts}/${what}/${seg(id)}/${action}`,
  /** A suite run's page (issue 16), or its cancel form; `format=csv` for its results. */
  testRun: (slug: string, id: string, sub?: 'cancel', query: QueryValues = {}) =>
    withQuery(`${PREFIX.features}/${seg(slug)}/test-runs/${seg(id)}${sub ? `/${sub}` : ''}`, query),
  /** Two runs side by side: `a` and `b` are run ids. */
  testRunCompare: (slug: string, query: QueryValues = {}) => withQuery(`${PREFIX.features}/${seg(slug)}/test-runs/compare`, query),
  testRunApi: (id: string) => `${PREFIX.api}/test-runs/${seg(id)}`,
  /** A gradual rollout's live page (issue 18), or one of its actions. */
  rollout: (id: string, sub?: 'percent' | 'pause' | 'resume' | 'rollback' | 'complete' | 'abort') =>
    `${PREFIX.rollouts}/${seg(id)}${sub ? `/${sub}` : ''}`,
  /** The start form of a rollout of a feature in an environment, and where it posts. */
  rolloutStart: (query: QueryValues = {}) => withQuery(`${PREFIX.rollouts}/new`, query),
  rollouts: () => PREFIX.rollouts,
  rolloutApi: (id: string) => `${PREFIX.api}/rollouts/${seg(id)}`,
} as const;

export type Urls = typeof url;
