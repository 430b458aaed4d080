import { z } from 'zod';
import type { Db } from '../db/knex.ts';
import { type IngestWarning, MAX_WARNINGS } from './ingest-warnings.ts';

// The optional `variant` of a usage event (issue 18). The arm an event counts for stays inferred from
// its model and prompt version (src/metrics/rollout-arms.ts), never from what it says: a candidate
// always differs from stable in its model or its prompt version, so the event itself tells, and a
// client with a stale config or a bug cannot move traffic between arms by mislabelling it. A stated
// variant that contradicts the inferred arm of a running or paused rollout is stored all the same,
// with a warning in the answer. Cost: nothing unless an event states a variant; then the active
// rollouts come from a cache kept TTL_MS, which this instance forgets as soon as it starts, changes or
// ends a rollout (forgetActiveRollouts). The cache is in-process: another instance sees such a change
// within TTL_MS, and until then judges the events of that feature and environment as before it.

export const VARIANTS = ['stable', 'candidate'] as const;
/** The ingestion schema's field: anything else rejects the event with this message. */
export const variantField = z.enum(VARIANTS, { message: 'must be stable or candidate' }).optional();

/** What the batch's rows carry for this check: the event's index and its stated variant, beside the resolved columns. */
export interface VariantRow {
  index?: number;
  variant?: (typeof VARIANTS)[number];
  feature_id: string;
  environment: string;
  model_id: string;
  prompt_version: number | null;
}

interface ActiveArms {
  id: string;
  candidate_model_id: string | null;
  stable_model_id: string | null;
  candidate_version: number | null;
  stable_version: number | null;
}

const TTL_MS = 10_000;
const cached = new WeakMap<Db, { at: number; generation: number; arms: Promise<Map<string, ActiveArms>> }>();
/** Bumped by forgetActiveRollouts: a cache read before it is stale, whichever Db (or transaction) read it. */
let generation = 0;

/**
 * Call once a rollout's start, status change or end is committed: this instance's next batch reads
 * the active rollouts again. (Before the commit, a batch in between could cache the old state.)
 */
export function forgetActiveRollouts(): void {
  generation++;
}
const keyOf = (featureId: string, environment: string) => `${featureId}|${environment}`;

async function loadArms(db: Db): Promise<Map<string, ActiveArms>> {
  const rows = await db('rollouts as r')
    .leftJoin('prompt_versions as cv', 'cv.id', 'r.candidate_prompt_version_id')
    .leftJoin('prompt_versions as sv', 'sv.id', 'r.stable_prompt_version_id')
    .whereIn('r.status', ['running', 'paused'])
    .select(
      'r.id',
      'r.feature_id',
      'r.environment',
      'r.candidate_model_id',
      'r.stable_model_id',
      'cv.version as candidate_version',
      'sv.version as stable_version',
    );
  return new Map(rows.map((r) => [keyOf(r.feature_id, r.environment), r as ActiveArms]));
}

function armsOf(db: Db): Promise<Map<string, ActiveArms>> {
  const hit = cached.get(db);
  if (hit && hit.generation === generation && Date.now() - hit.at < TTL_MS) return hit.arms;
  const arms = loadArms(db);
  cached.set(db, { at: Date.now(), generation, arms });
  arms.catch(() => cached.delete(db));
  return arms;
}

/** The arm an event counts for, as the guard's SQL infers it (src/metrics/rollout-arms.ts); null: neither. */
export function inferredArm(r: ActiveArms, e: Pick<VariantRow, 'model_id' | 'prompt_version'>): 'stable' | 'candidate' | null {
  if (r.candidate_version !== null) {
    if (e.model_id === (r.candidate_model_id ?? r.stable_model_id) && e.prompt_version === r.candidate_version) return 'candidate';
    return e.model_id === r.stable_model_id && (e.prompt_version ?? 0) === (r.stable_version ?? 0) ? 'stable' : null;
  }
  return e.model_id === r.candidate_model_id ? 'candidate' : e.model_id === r.stable_model_id ? 'stable' : null;
}

/** A warning per event whose stated variant contradicts the arm its model and prompt version put it in (the event is stored). */
export async function variantWarnings(db: Db, rows: VariantRow[]): Promise<IngestWarning[]> {
  const stated = rows.filter((r) => r.variant !== undefined);
  if (!stated.length) return [];
  const arms = await armsOf(db);
  const warnings: IngestWarning[] = [];
  for (const e of stated) {
    const rollout = arms.get(keyOf(e.feature_id, e.environment));
    if (!rollout || warnings.length >= MAX_WARNINGS) continue;
    const arm = inferredArm(rollout, e);
    if (arm === e.variant) continue;
    const is = arm ? `the ${arm} arm` : 'neither arm';
    warnings.push({
      index: e.index!,
      field: 'variant',
      message: `variant ${e.variant} contradicts the event's model and prompt version, which are ${is} of rollout ${rollout.id} (stored; counted by its model and prompt version)`,
    });
  }
  return warnings;
}
