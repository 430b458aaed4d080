import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import { featureMetrics } from '../../../src/metrics/feature-metrics.ts';
import { SET_MAX } from '../../../src/metrics/user-sketch.ts';
import { makeFeature } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import { insertUsage } from '../../setup/usage-factory.ts';
import { type Features, featuresUrl, openFeatures, use } from './setup.ts';

// Unique users past SET_MAX are estimated (SPEC §4): the overview tab says so with "≈".

const fmt = createFormat('UTC');

let c: Features;
beforeAll(async () => {
  c = await openFeatures();
});
afterAll(() => c?.close());

describe('unique users on the overview tab', () => {
  it(`when a feature has more than ${SET_MAX} users in the range, then the figure is shown as an estimate (≈); with fewer, exactly`, async () => {
    const f = await makeFeature(c.t.db);
    const users = (n: number, prefix: string) =>
      Array.from({ length: n }, (_v, i) => use(f, c.mini, 2 + (i % 50), { end_user_id: `${prefix}-${i}` }));
    await insertUsage(c.t.db, users(40, 'few'));
    const stat = async () =>
      text((await c.page(featuresUrl({ feature: f.name, range: '1h' })))('#feature-overview [data-stat="unique_users"]'));
    expect(await stat()).toBe('40');

    await insertUsage(c.t.db, users(SET_MAX + 200, 'many'));
    const { usage } = await featureMetrics(c.t.db, f, '1h', new Date(), 'UTC');
    expect(usage.unique_users_approximate).toBe(true);
    expect(Math.abs(usage.unique_users - (SET_MAX + 240)) / (SET_MAX + 240)).toBeLessThanOrEqual(0.02);
    expect(await stat()).toBe(`≈ ${fmt.integer(usage.unique_users)}`);
  });
});
