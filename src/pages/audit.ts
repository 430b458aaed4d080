import type { Db } from '../db/knex.ts';
import type { AuditRow } from '../db/queries/audit.ts';
import { url } from '../http/urls.ts';

/** A name shown for an id, with the page it links to when it has one; `known` is false when the row is gone. */
export interface Named {
  id: string;
  label: string;
  href: string | null;
  known: boolean;
}

/** One line of a change list: "field: from → to" (`from` absent for values set on creation, `to` for values removed). */
export interface ChangeLine {
  field: string;
  from?: ChangeValue;
  to?: ChangeValue;
}
export interface ChangeValue {
  text: string;
  href: string | null;
}

export interface AuditEntryView extends AuditRow {
  entity: Named | null;
  changes: ChangeLine[];
  deployment: Named | null;
}

type Kind = 'feature' | 'model' | 'provider' | 'user' | 'api_key' | 'deployment';

/** Keys inside before/after whose value is the id of another entity, shown by its name. */
const ID_KEYS: Record<string, Kind> = {
  feature_id: 'feature',
  model_id: 'model',
  previous_model_id: 'model',
  provider_id: 'provider',
  deployment_id: 'deployment',
};

const ENTITY_KINDS = new Set<string>(['feature', 'model', 'provider', 'user', 'api_key', 'deployment']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Lookup = Map<string, Omit<Named, 'id' | 'known'>>;

/** One query per entity type for the whole page, never one per row. */
async function lookups(db: Db, ids: Record<Kind, Set<string>>): Promise<Record<Kind, Lookup>> {
  const list = (k: Kind) => [...ids[k]].filter((id) => UUID.test(id));
  const [features, models, providers, users, keys, deployments] = await Promise.all([
    list('feature').length ? db('ai_features').whereIn('id', list('feature')).select('id', 'name', 'display_name') : [],
    list('model').length ? db('ai_models').whereIn('id', list('model')).select('id', 'display_name') : [],
    list('provider').length ? db('ai_providers').whereIn('id', list('provider')).select('id', 'name', 'display_name') : [],
    list('user').length ? db('users').whereIn('id', list('user')).select('id', 'email') : [],
    list('api_key').length ? db('api_keys').whereIn('id', list('api_key')).select('id', 'name') : [],
    list('deployment').length
      ? db('deployments as d')
          .join('ai_features as f', 'f.id', 'd.feature_id')
          .whereIn('d.id', list('deployment'))
          .select('d.id', 'd.environment', 'f.display_name')
      : [],
  ]);
  const map = <T extends { id: string }>(rows: T[], f: (r: T) => Omit<Named, 'id' | 'known'>): Lookup =>
    new Map(rows.map((r) => [r.id, f(r)]));
  return {
    feature: map(features, (r) => ({ label: r.display_name, href: url.features({ feature: r.name }) })),
    model: map(models, (r) => ({ label: r.display_name, href: url.model(r.id) })),
    provider: map(providers, (r) => ({ label: r.display_name, href: url.provider(r.name) })),
    user: map(users, (r) => ({ label: r.email, href: null })),
    api_key: map(keys, (r) => ({ label: r.name, href: url.apiKeys() })),
    deployment: map(deployments, (r) => ({ label: `${r.display_name} (${r.environment})`, href: url.deployment(r.id) })),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function collectIds(rows: AuditRow[]): Record<Kind, Set<string>> {
  const ids = Object.fromEntries([...ENTITY_KINDS].map((k) => [k, new Set<string>()])) as Record<Kind, Set<string>>;
  for (const r of rows) {
    if (r.entity_id && ENTITY_KINDS.has(r.entity_type)) ids[r.entity_type as Kind].add(r.entity_id);
    for (const side of [r.before, r.after])
      if (isObject(side)) for (const [k, v] of Object.entries(side)) if (ID_KEYS[k] && typeof v === 'string') ids[ID_KEYS[k]].add(v);
  }
  return ids;
}

function named(found: Record<Kind, Lookup>, kind: Kind, id: string): Named {
  const hit = found[kind].get(id);
  return hit ? { id, ...hit, known: true } : { id, label: id, href: null, known: false };
}

function shownValue(found: Record<Kind, Lookup>, key: string, v: unknown): ChangeValue {
  if (ID_KEYS[key] && typeof v === 'string') {
    const n = named(found, ID_KEYS[key], v);
    return { text: n.label, href: n.href };
  }
  if (v === null || v === undefined) return { text: '—', href: null };
  return { text: typeof v === 'string' ? v : JSON.stringify(v), href: null };
}

/** The change list: keys whose value differs (or every key set, for an entry with one side only). */
export function changeLines(found: Record<Kind, Lookup>, before: unknown, after: unknown): ChangeLine[] {
  const b = isObject(before) ? before : null;
  const a = isObject(after) ? after : null;
  if (!a && !b) return [];
  const keys = [...new Set([...Object.keys(b ?? {}), ...Object.keys(a ?? {})])];
  const lines: ChangeLine[] = [];
  for (const key of keys) {
    const inB = b !== null && key in b;
    const inA = a !== null && key in a;
    if (inB && inA && JSON.stringify(b[key]) === JSON.stringify(a[key])) continue;
    lines.push({
      field: key,
      ...(inB && { from: shownValue(found, key, b[key]) }),
      ...(inA && { to: shownValue(found, key, a[key]) }),
    });
  }
  return lines;
}

/** The audit page's entries with every id named (one lookup per entity type for the page). */
export async function auditEntryViews(db: Db, rows: AuditRow[]): Promise<AuditEntryView[]> {
  const found = await lookups(db, collectIds(rows));
  return rows.map((r) => {
    const deploymentId = isObject(r.after) && typeof r.after.deployment_id === 'string' ? r.after.deployment_id : null;
    return {
      ...r,
      entity: r.entity_id && ENTITY_KINDS.has(r.entity_type) ? named(found, r.entity_type as Kind, r.entity_id) : null,
      changes: changeLines(found, r.before, r.after),
      deployment: deploymentId ? named(found, 'deployment', deploymentId) : null,
    };
  });
}
