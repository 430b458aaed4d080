import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/knex.ts';
import { run } from '../../src/jobs/alerts.ts';
import { syncDefaultRules } from '../../src/services/alert-defaults.ts';
import { budgetFigures } from '../../src/services/budgets.ts';
import { runtimeConfig } from '../../src/services/runtime-config.ts';
import { makeFeature, suffix } from '../setup/factories.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { DAY, insertUsage, type ModelRef, modelsByName } from '../setup/usage-factory.ts';

// Budgets (issue 17) on a fixed date: month-to-date spend, the 7-day daily rate, the projected
// month-end spend and the exhaustion date equal a brute-force computation over the events; each mark
// fires once a month, worded without ambiguity; over budget with `flag`, the runtime config says so.

let db: Db;
let drop: () => Promise<void>;
let model: ModelRef;

beforeAll(async () => {
  ({ db, drop } = await ownSeededDatabase('budgets'));
  model = [...(await modelsByName(db)).values()][0]!;
});
afterAll(async () => {
  await db?.destroy();
  await drop?.();
});

const NOW = new Date('2026-11-20T12:00:00Z');
const USD = 1e8; // cost units per dollar

/** $20 at noon every day from 25 Oct to 19 Nov, and $20.12 at 08:00 on the 20th. */
function spending(featureId: string) {
  const events: { at: number; usd: number }[] = [];
  for (let t = Date.UTC(2026, 9, 25, 12); t < Date.UTC(2026, 10, 20); t += DAY) events.push({ at: t, usd: 20 });
  events.push({ at: Date.UTC(2026, 10, 20, 8), usd: 20.12 });
  return {
    events,
    insert: () =>
      insertUsage(
        db,
        events.map((e) => ({
          feature_id: featureId,
          model,
          created_at: new Date(e.at),
          input_cost_units: Math.round(e.usd * USD),
          output_cost_units: 0,
        })),
      ),
  };
}

/** The figures from the events themselves. */
function bruteForce(events: { at: number; usd: number }[], budget: number, now: Date) {
  const monthStart = Date.UTC(2026, 10, 1);
  const today = Date.UTC(2026, 10, 20);
  const mtd = events.filter((e) => e.at >= monthStart && e.at < now.getTime()).reduce((a, e) => a + e.usd, 0);
  const week = events.filter((e) => e.at >= today - 7 * DAY && e.at < today).reduce((a, e) => a + e.usd, 0);
  const rate = week / 7;
  const left = (Date.UTC(2026, 11, 1) - now.getTime()) / DAY;
  return { mtd, rate, projected: mtd + rate * left, exhaustion: now.getTime() + ((budget - mtd) / rate) * DAY };
}

describe('budgets', () => {
  it('when a feature has spent for weeks, then its figures equal the brute-force ones', async () => {
    const feature = await makeFeature(db, { monthly_budget_usd: 500 });
    const s = spending(feature.id);
    await s.insert();
    const b = (await budgetFigures(db, [{ id: feature.id, monthly_budget_usd: 500 }], NOW)).get(feature.id)!;
    const expected = bruteForce(s.events, 500, NOW);
    expect(b.mtd).toBeCloseTo(expected.mtd, 8);
    expect(b.mtd).toBeCloseTo(400.12, 8);
    expect(b.rate_per_day).toBeCloseTo(expected.rate, 8);
    expect(b.rate_days).toBe(7);
    expect(b.low_confidence).toBe(false);
    expect(b.projected_eom).toBeCloseTo(expected.projected, 6);
    expect(b.exhaustion_at!.getTime()).toBeCloseTo(expected.exhaustion, -3);
    expect(b.month_last_day.toISOString().slice(0, 10)).toBe('2026-11-30');
  });

  it('when a feature is 2 days old, then the rate is the mean of its 2 days, flagged low confidence', async () => {
    const feature = await makeFeature(db, { monthly_budget_usd: 100 });
    await insertUsage(db, [
      { feature_id: feature.id, model, created_at: new Date(Date.UTC(2026, 10, 18, 9)), input_cost_units: 10 * USD, output_cost_units: 0 },
      { feature_id: feature.id, model, created_at: new Date(Date.UTC(2026, 10, 19, 9)), input_cost_units: 30 * USD, output_cost_units: 0 },
    ]);
    const b = (await budgetFigures(db, [{ id: feature.id, monthly_budget_usd: 100 }], NOW)).get(feature.id)!;
    expect(b.rate_days).toBe(2);
    expect(b.rate_per_day).toBeCloseTo(20, 8);
    expect(b.low_confidence).toBe(true);
  });

  it("when the marks are reached, then each fires once this month, worded plainly, to the spend rule's channels", async () => {
    const feature = await makeFeature(db, { monthly_budget_usd: 500 });
    await spending(feature.id).insert();
    await syncDefaultRules(db);
    const [ch] = await db('notification_channels')
      .insert({ name: `b-${suffix()}`, kind: 'webhook', url: 'http://127.0.0.1:9/hook', created_by: 'test' })
      .returning('id');
    await db('alert_rules')
      .where({ feature_id: feature.id, kind: 'spend_month', is_default: true })
      .update({ channel_ids: [ch!.id] });
    await db('alert_ticks').delete();
    await run({ db, now: NOW });
    await run({ db, now: new Date(NOW.getTime() + 60_000) });
    await db('alert_ticks').delete();
    await run({ db, now: new Date(NOW.getTime() + 3_600_000) });
    const marks = await db('budget_marks').where({ feature_id: feature.id }).orderBy('mark');
    expect(marks.map((m) => [m.mark, new Date(m.month).toISOString().slice(0, 10)])).toEqual([
      ['50', '2026-11-01'],
      ['80', '2026-11-01'],
      ['projected', '2026-11-01'],
    ]);
    expect(marks.find((m) => m.mark === '80')!.message).toBe(
      '80% used ($400.12 of $500) — projected $610 by 30 Nov; at $20 a day the budget runs out on 25 Nov',
    );
    expect(marks.find((m) => m.mark === 'projected')!.message).toBe(
      'Projected over budget: projected $610 by 30 Nov; 80% used ($400.12 of $500); at $20 a day the budget runs out on 25 Nov',
    );
    const deliveries = await db('notification_deliveries').where({ channel_id: ch!.id });
    expect(deliveries.map((d) => d.payload.mark).sort()).toEqual(['50', '80', 'projected']);
  });

  it('when a projected month-end spend rule is over its threshold, then it fires with the projection as its value', async () => {
    const feature = await makeFeature(db);
    await spending(feature.id).insert();
    const [rule] = await db('alert_rules')
      .insert({ feature_id: feature.id, kind: 'spend_projected', threshold: 550, for_min: 1, created_by: 'test' })
      .returning('id');
    const [under] = await db('alert_rules')
      .insert({ feature_id: feature.id, kind: 'spend_projected', threshold: 700, for_min: 1, created_by: 'test' })
      .returning('id');
    await db('alert_ticks').delete();
    await run({ db, now: NOW });
    const alert = (await db('alerts').where({ rule_id: rule!.id }).first())!;
    expect(alert.state).toBe('firing');
    expect(alert.last_value).toBeCloseTo(bruteForce(spending(feature.id).events, 500, NOW).projected, 6);
    expect((await db('alerts').where({ rule_id: under!.id }).first())!.state).toBe('ok');
  });

  it('when spend crosses the budget with action flag, then the runtime config says over budget; spend below it leaves the version alone', async () => {
    const feature = await makeFeature(db, { monthly_budget_usd: 50, over_budget_action: 'flag' });
    const spend = (usd: number, hour: number) =>
      insertUsage(db, [
        {
          feature_id: feature.id,
          model,
          created_at: new Date(Date.UTC(2026, 10, 20, hour)),
          input_cost_units: usd * USD,
          output_cost_units: 0,
        },
      ]);
    await spend(10, 1);
    const before = await runtimeConfig(db, feature, 'production', NOW);
    await spend(20, 2);
    const still = await runtimeConfig(db, feature, 'production', NOW);
    expect([still.over_budget, still.version]).toEqual([false, before.version]);
    await spend(25, 3);
    const over = await runtimeConfig(db, feature, 'production', NOW);
    expect(over.over_budget).toBe(true);
    expect(over.version).not.toBe(before.version);
  });
});
