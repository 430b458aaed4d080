import type { ArmFigures } from '../metrics/rollout-arms.ts';
import type { RolloutGuard } from './rollout-plan.ts';

/** One-sided α = 0.001 per check: the candidate's error rate is worse only when z reaches this. */
export const Z_CRITICAL = 3.09;

export interface MetricVerdict {
  metric: 'error_rate' | 'p95' | 'cost';
  /** No data (or too little) never triggers: `unknown` then. */
  state: 'ok' | 'breached' | 'unknown';
  text: string;
}

export interface GuardVerdict {
  enough: boolean;
  breached: boolean;
  metrics: MetricVerdict[];
}

const n = (v: number) => v.toLocaleString('en-US');
const pct = (failures: number, requests: number) => `${((100 * failures) / requests).toFixed(1)}%`;
const usd = (v: number) => `$${v.toFixed(5)}`;

/** The one-sided two-proportion z statistic (pooled), candidate minus stable; 0 when nothing failed. */
export function twoProportionZ(c: Pick<ArmFigures, 'requests' | 'failures'>, s: Pick<ArmFigures, 'requests' | 'failures'>): number {
  const p = (c.failures + s.failures) / (c.requests + s.requests);
  const se = Math.sqrt(p * (1 - p) * (1 / c.requests + 1 / s.requests));
  return se === 0 ? 0 : (c.failures / c.requests - s.failures / s.requests) / se;
}

/** Candidate vs stable on the same minutes, each metric in words with its numbers (SPEC §10.5). */
export function judge(guard: RolloutGuard, minPerArm: number, arms: { stable: ArmFigures; candidate: ArmFigures }): GuardVerdict {
  const { stable: s, candidate: c } = arms;
  const enough = c.requests >= Math.max(minPerArm, 1) && s.requests >= Math.max(minPerArm, 1);
  if (!enough) {
    const text = `too little traffic: candidate n=${n(c.requests)}, stable n=${n(s.requests)} (minimum ${n(minPerArm)} each)`;
    return {
      enough,
      breached: false,
      metrics: (['error_rate', 'p95', 'cost'] as const).map((metric) => ({ metric, state: 'unknown', text })),
    };
  }
  const z = twoProportionZ(c, s);
  const deltaPp = (100 * c.failures) / c.requests - (100 * s.failures) / s.requests;
  const errorBreached = deltaPp > guard.error_margin_pp && z >= Z_CRITICAL;
  const error: MetricVerdict = {
    metric: 'error_rate',
    state: errorBreached ? 'breached' : 'ok',
    text: `candidate ${pct(c.failures, c.requests)} errors (n=${n(c.requests)}) vs stable ${pct(s.failures, s.requests)} (n=${n(s.requests)}), z = ${z.toFixed(1)}`,
  };
  const p95: MetricVerdict =
    c.p95_low === null || s.p95_high === null
      ? { metric: 'p95', state: 'unknown', text: 'no latency data' }
      : {
          metric: 'p95',
          state: c.p95_low > (1 + guard.p95_margin_pct / 100) * s.p95_high ? 'breached' : 'ok',
          text: `candidate p95 ≥ ${n(c.p95_low)} ms vs stable p95 ≤ ${Number.isFinite(s.p95_high) ? `${n(s.p95_high)} ms` : 'unbounded'} (margin ${guard.p95_margin_pct}%)`,
        };
  const [cc, cs] = [c.cost_usd / c.requests, s.cost_usd / s.requests];
  const cost: MetricVerdict = {
    metric: 'cost',
    state: cc > (1 + guard.cost_margin_pct / 100) * cs ? 'breached' : 'ok',
    text: `candidate ${usd(cc)} per request vs stable ${usd(cs)} (margin ${guard.cost_margin_pct}%)`,
  };
  const metrics = [error, p95, cost];
  return { enough, breached: metrics.some((m) => m.state === 'breached'), metrics };
}
