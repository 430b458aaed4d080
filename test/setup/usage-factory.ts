import { seedReference } from '../../seeds/reference.ts';
import type { Db } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { suffix } from './factories.ts';
import type { ModelRecord, ProviderRecord } from './rows.ts';
import { withScratchDatabase } from './scratch-db.ts';

/** A tiny seeded PRNG (mulberry32): the same seed gives the same data set on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
export const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** A migrated scratch database with the reference data, for anything that touches rollups. */
export function withUsageDatabase<T>(fn: (db: Db, url: string) => Promise<T>): Promise<T> {
  return withScratchDatabase(async (db, url) => {
    await migrateLatest(db);
    await seedReference(db);
    return fn(db, url);
  });
}

export interface ModelRef {
  id: string;
  name: string;
  display_name: string;
  provider_id: string;
  provider_name: string;
  /** List prices in millionths of a dollar per 1k tokens (integers, exact). */
  in_micro: number;
  out_micro: number;
}

export async function modelsByName(db: Db): Promise<Map<string, ModelRef>> {
  const rows = await db('ai_models as m')
    .join('ai_providers as p', 'p.id', 'm.provider_id')
    .select(
      'm.id',
      'm.name',
      'm.display_name',
      'm.provider_id',
      'p.name as provider_name',
      'm.input_price_per_1k',
      'm.output_price_per_1k',
    );
  return new Map(
    rows.map((r) => [
      r.name,
      {
        ...r,
        in_micro: Math.round(Number(r.input_price_per_1k) * 1e6),
        out_micro: Math.round(Number(r.output_price_per_1k) * 1e6),
      } as ModelRef,
    ]),
  );
}

/** A model row and its provider as the usage helpers take them: list prices in integer millionths. */
export const modelRef = (
  m: Pick<ModelRecord, 'id' | 'name' | 'display_name' | 'input_price_per_1k' | 'output_price_per_1k'>,
  p: Pick<ProviderRecord, 'id' | 'name'>,
): ModelRef => ({
  id: m.id,
  name: m.name,
  display_name: m.display_name,
  provider_id: p.id,
  provider_name: p.name,
  in_micro: Math.round(Number(m.input_price_per_1k) * 1e6),
  out_micro: Math.round(Number(m.output_price_per_1k) * 1e6),
});

/** Money in units of 1e-8 USD (integers), as numeric(14, 8) text. */
export const usd = (units: number) => `${Math.floor(units / 1e8)}.${String(units % 1e8).padStart(8, '0')}`;

/** round(tokens × price_per_1k / 1000, 8) in 1e-8 USD units, rounding half up like PostgreSQL's round(numeric). */
export const listCostUnits = (tokens: number, priceMicro: number) => Math.round((tokens * priceMicro) / 10);

export interface UsageEvent {
  event_id?: string;
  feature_id: string;
  model: ModelRef;
  environment?: 'development' | 'staging' | 'production';
  end_user_id?: string | null;
  status?: 'success' | 'error' | 'timeout';
  response_time_ms?: number;
  input_tokens?: number;
  output_tokens?: number;
  /** Costs in 1e-8 USD; from the model's list prices when absent. */
  input_cost_units?: number;
  output_cost_units?: number;
  created_at: Date;
  /** The prompt version the event used (issue 15); none when absent. */
  prompt_version?: number | null;
}

let counter = 0;

/** Inserts raw usage rows (and their idempotency keys) straight into the tables, in this order. */
export async function insertUsage(db: Db, events: UsageEvent[]): Promise<void> {
  const rows = events.map((e) => {
    const input_tokens = e.input_tokens ?? 100;
    const output_tokens = e.output_tokens ?? 50;
    const inCost = e.input_cost_units ?? listCostUnits(input_tokens, e.model.in_micro);
    const outCost = e.output_cost_units ?? listCostUnits(output_tokens, e.model.out_micro);
    return {
      event_id: e.event_id ?? `ev-${suffix()}-${++counter}`,
      feature_id: e.feature_id,
      model_id: e.model.id,
      provider_id: e.model.provider_id,
      environment: e.environment ?? 'production',
      end_user_id: e.end_user_id ?? null,
      status: e.status ?? 'success',
      response_time_ms: e.response_time_ms ?? 200,
      input_tokens,
      output_tokens,
      cost_usd: usd(inCost + outCost),
      input_cost_usd: usd(inCost),
      created_at: e.created_at,
      prompt_version: e.prompt_version ?? null,
    };
  });
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await db('ai_usage_event_keys').insert(chunk.map((r) => ({ event_id: r.event_id, created_at: r.created_at })));
    await db('ai_usage_logs').insert(chunk);
  }
}

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
