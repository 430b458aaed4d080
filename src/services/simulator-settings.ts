import type { Db } from '../db/knex.ts';
import type { Behaviour } from '../providers/simulator.ts';

// The built-in simulator's per-model behaviour, stored (issue 19): it survives a restart and every
// app instance's simulator reads the same settings.

/** Every stored behaviour, by model name. */
export async function storedBehaviours(db: Db): Promise<Map<string, Behaviour>> {
  const rows = await db('simulator_behaviours').select('model_name', 'latency_ms', 'error_rate');
  return new Map(rows.map((r) => [r.model_name, { latencyMs: r.latency_ms, errorRate: Number(r.error_rate) }]));
}

/** Stores how the simulator answers for a model from now on. */
export async function storeBehaviour(db: Db, model: string, b: { latency_ms: number; error_rate: number }, by: string) {
  await db('simulator_behaviours')
    .insert({ model_name: model, latency_ms: b.latency_ms, error_rate: b.error_rate, updated_by: by })
    .onConflict('model_name')
    .merge({ latency_ms: b.latency_ms, error_rate: b.error_rate, updated_by: by, updated_at: db.fn.now() });
}
