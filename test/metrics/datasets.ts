/** Randomized usage data sets (seeded) with the awkward cases SPEC §4 has to get right. */
import { DAY, HOUR, int, MINUTE, type ModelRef, pick, type Rng, type UsageEvent } from '../setup/usage-factory.ts';
import { RANGE_MS, RANGES } from './brute-force.ts';

export interface DatasetSpec {
  name: string;
  seed: number;
  now: string;
  timeZone: string;
  events: number;
  users: number;
  failure: number;
  threshold?: number;
  models: string[];
  /** every request fails */
  allErrors?: boolean;
  /** every cost is zero */
  zeroCost?: boolean;
  /** nothing in the last hour (so the 1h range is empty) */
  quietLastHour?: boolean;
}

export const DATASETS: DatasetSpec[] = [
  {
    name: 'mixed traffic, now mid-minute',
    seed: 1,
    now: '2026-11-20T12:34:56.789Z',
    timeZone: 'UTC',
    events: 600,
    users: 40,
    failure: 0.04,
    models: ['gpt-4o-mini', 'claude-3-5-sonnet-20241022', 'sim-chat'],
  },
  {
    name: 'now exactly on a day boundary, Paris time',
    seed: 2,
    now: '2026-11-21T00:00:00.000Z',
    timeZone: 'Europe/Paris',
    events: 600,
    users: 8,
    failure: 0.08,
    threshold: 2.5,
    models: ['gpt-4o-mini', 'gpt-4.1'],
  },
  {
    name: 'many users, Kolkata time, now on a 6-hour edge',
    seed: 3,
    now: '2026-11-18T06:00:00.000Z',
    timeZone: 'Asia/Kolkata',
    events: 800,
    users: 3000,
    failure: 0.02,
    models: ['claude-3-5-sonnet-20241022', 'claude-3-5-haiku-20241022', 'gpt-4o-mini'],
  },
  {
    name: 'all errors',
    seed: 4,
    now: '2026-11-19T13:05:00.000Z',
    timeZone: 'America/New_York',
    events: 400,
    users: 20,
    failure: 1,
    allErrors: true,
    models: ['gpt-4o-mini', 'gpt-4.1'],
  },
  {
    name: 'zero costs and an empty last hour',
    seed: 5,
    now: '2026-11-22T08:59:59.999Z',
    timeZone: 'UTC',
    events: 500,
    users: 30,
    failure: 0.05,
    zeroCost: true,
    quietLastHour: true,
    models: ['sim-chat'],
  },
  {
    name: 'a single event',
    seed: 6,
    now: '2026-11-23T10:00:30.000Z',
    timeZone: 'UTC',
    events: 1,
    users: 1,
    failure: 0,
    models: ['gpt-4o-mini'],
  },
];

const SNAPS = [MINUTE, 5 * MINUTE, HOUR, 6 * HOUR, DAY];

/**
 * The prompt version an event carries (issue 15), without drawing from the generator (the data sets
 * stay as they were): version 2 went live 3 hours before now in production and staging, version 1
 * before; development sends none.
 */
const promptVersionAt = (environment: string, t: number, now: number) =>
  environment === 'development' ? null : t < now - 3 * HOUR ? 1 : 2;

function latency(rng: Rng, status: string): number {
  if (status === 'timeout') return 30_000 + int(rng, 0, 5000);
  const r = rng();
  if (r < 0.02) return 0;
  if (r < 0.03) return int(rng, 5000, 400_000);
  const g = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return Math.round(Math.exp(Math.log(350) + 0.7 * g));
}

/** Ages (ms before now) at the edges of every range, bucket and minute, and just outside them. */
function edgeAges(now: number): number[] {
  const ages = [0, 1];
  for (const range of RANGES) {
    const R = RANGE_MS[range];
    ages.push(R, R + 1, R - 1, 2 * R, 2 * R + 1, 2 * R - 1);
  }
  for (const unit of SNAPS) {
    const edge = Math.floor(now / unit) * unit;
    ages.push(now - edge, now - edge + unit, now - edge + 1);
    const start = now - HOUR; // the first whole unit after the start of a range, and the start's own slot
    ages.push(now - (Math.floor(start / unit) * unit + unit), now - Math.floor(start / unit) * unit);
  }
  return ages.filter((a) => a >= 0 && a < 61 * DAY);
}

export function generateEvents(
  rng: Rng,
  spec: DatasetSpec,
  featureId: string,
  models: ModelRef[],
  now: number,
  count: number,
  late = false,
): UsageEvent[] {
  const quiet = spec.quietLastHour ? HOUR + 1 : 0;
  const ages: number[] = [];
  if (!late && count > 20) ages.push(...edgeAges(now).filter((a) => a >= quiet));
  if (!late && count === 1) ages.push(HOUR); // exactly at the start of the 1h range
  // A few incident minutes where most requests fail, so some minutes are bad.
  const incidents = Array.from({ length: 4 }, () => quiet + int(rng, 0, 25 * 60) * MINUTE);
  // Older traffic comes in bursts of an hour (as it does), a dozen in the last week, a dozen before.
  const bursts = [
    ...Array.from({ length: 12 }, () => int(rng, 25 * HOUR, 8 * DAY)),
    ...Array.from({ length: 12 }, () => int(rng, 8 * DAY, 61 * DAY)),
  ];
  while (ages.length < count) {
    const r = rng();
    let age: number;
    if (late) age = r < 0.5 ? int(rng, 2 * MINUTE, 2 * HOUR) : r < 0.8 ? int(rng, HOUR, 3 * DAY) : int(rng, 3 * DAY, 60 * DAY);
    else if (r < 0.05) age = pick(rng, incidents) + int(rng, 0, MINUTE - 1);
    else age = r < 0.35 ? int(rng, 0, 70 * MINUTE) : r < 0.65 ? int(rng, 0, 25 * HOUR) : pick(rng, bursts) + int(rng, 0, HOUR);
    age += quiet;
    if (rng() < 0.15) {
      const unit = pick(rng, SNAPS);
      age = now - Math.floor((now - age) / unit) * unit;
    }
    ages.push(age);
  }
  const incidentMinutes = new Set(incidents.map((a) => Math.floor((now - a) / MINUTE)));
  return ages.slice(0, count).map((age) => {
    const t = now - age;
    const failP = spec.allErrors ? 1 : incidentMinutes.has(Math.floor(t / MINUTE)) ? 0.6 : spec.failure;
    const status = rng() < failP ? (rng() < 0.7 ? 'error' : 'timeout') : 'success';
    const input_tokens = rng() < 0.05 ? 0 : int(rng, 1, 3000);
    const output_tokens = rng() < 0.1 ? 0 : int(rng, 1, 1000);
    // Drawn in the order the fields were always drawn in.
    const model = pick(rng, models);
    const environment = pick(rng, ['production', 'production', 'staging', 'development'] as const);
    return {
      feature_id: featureId,
      model,
      environment,
      end_user_id: rng() < 0.2 ? null : `user-${int(rng, 1, spec.users)}`,
      status,
      response_time_ms: latency(rng, status),
      input_tokens,
      output_tokens,
      ...(spec.zeroCost || rng() < 0.05 ? { input_cost_units: 0, output_cost_units: 0 } : {}),
      created_at: new Date(t),
      prompt_version: promptVersionAt(environment, t, now),
    } as UsageEvent;
  });
}
