import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormat } from '../../../src/format.ts';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import type { FeatureRecord, ModelRecord } from '../../setup/rows.ts';
import { insertUsage, MINUTE, modelRef } from '../../setup/usage-factory.ts';
import { type ModelsTab, openModelsTab } from './setup.ts';

// The candidates of a feature's Models tab: what each would have cost, which can be chosen and why not.

const fmt = createFormat('UTC');

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('GET /platform/ai-management/features?tab=models, the candidates', () => {
  // A feature with 30 days of tokens, served in production by `current`; three other candidates.
  let f: FeatureRecord;
  let current: ModelRecord;
  let cheaper: ModelRecord;
  let offline: ModelRecord;
  let deprecated: ModelRecord;
  beforeAll(async () => {
    f = await makeFeature(t.db);
    current = await makeModel(t.db, { input_price_per_1k: 0.5, output_price_per_1k: 1.5 });
    cheaper = await makeModel(t.db, { input_price_per_1k: 0.25, output_price_per_1k: 0.75 });
    offline = await makeModel(t.db, { status: 'offline', input_price_per_1k: 0.001, output_price_per_1k: 0.002 });
    deprecated = await makeModel(t.db, { status: 'deprecated', input_price_per_1k: 1, output_price_per_1k: 2 });
    const ref = modelRef(current, { id: c.simulatorId, name: 'simulator' });
    const ago = (minutes: number) => new Date(Date.now() - minutes * MINUTE);
    await insertUsage(t.db, [
      { feature_id: f.id, model: ref, input_tokens: 8_000, output_tokens: 2_000, created_at: ago(5) },
      { feature_id: f.id, model: ref, input_tokens: 4_000, output_tokens: 1_000, created_at: ago(3 * 24 * 60), environment: 'staging' },
    ]);
    await c.changed(f.name, current, 'production');
  });
  const row = ($: CheerioAPI, m: ModelRecord) => $(`#candidates tr[data-model="${m.name}"]`);

  it('when the feature has token usage, then each what-if cell prices its tokens at the model, against the current one, and the tab says how', async () => {
    const [input, output] = [12_000, 3_000];
    const whatIf = (m: ModelRecord) => (input * Number(m.input_price_per_1k) + output * Number(m.output_price_per_1k)) / 1000;
    const currentCost = whatIf(current);
    expect(fmt.usd(currentCost)).toBe('$10.50');
    const $ = await c.tab(f.name, 'production');
    expect(text(row($, current).find('td[data-col="what-if"]'))).toBe(fmt.usd(currentCost));
    for (const m of [cheaper, offline, deprecated]) {
      expect(text(row($, m).find('td[data-col="what-if"]')), m.name).toBe(
        `${fmt.usd(whatIf(m))} (${fmt.change(((whatIf(m) - currentCost) / currentCost) * 100)})`,
      );
    }
    expect(text(row($, cheaper).find('td[data-col="what-if"]'))).toBe('$5.25 (−50.0%)');
    expect(text($('#models-tab > p.muted').first())).toBe(
      `This feature used 12,000 input and 3,000 output tokens in the last 30 days (all environments), $10.50 at ${current.display_name}'s list prices. The what-if column prices the same tokens at each model.`,
    );
    // In staging nothing serves: the what-if has nothing to compare with.
    const $s = await c.tab(f.name, 'staging');
    expect(text(row($s, cheaper).find('td[data-col="what-if"]'))).toBe('$5.25');
  });

  it('when a model serves, then it is marked current and cannot be chosen, offline ones neither, deprecated ones only outside production', async () => {
    const $ = await c.tab(f.name, 'production');
    expect(
      $('#candidates tr.current')
        .toArray()
        .map((tr) => $(tr).attr('data-model')),
    ).toEqual([current.name]);
    expect(text(row($, current).find('th .badge'))).toBe('current');
    const radio = (m: ModelRecord) => row($, m).find('input[type="radio"][name="model_id"]');
    expect([current, offline, deprecated, cheaper].map((m) => [radio(m).val(), radio(m).attr('disabled') !== undefined])).toEqual([
      [current.id, true],
      [offline.id, true],
      [deprecated.id, true],
      [cheaper.id, false],
    ]);
    expect(text(row($, offline).find('td').eq(2))).toBe('offline offline');
    expect(text(row($, deprecated).find('td').eq(2))).toBe('deprecated deprecated: not for production');
    // In staging nothing serves: no current row, and the deprecated model may be chosen.
    const $s = await c.tab(f.name, 'staging');
    const radioS = (m: ModelRecord) => row($s, m).find('input[name="model_id"]');
    expect([current, offline, deprecated].map((m) => radioS(m).attr('disabled') !== undefined)).toEqual([false, true, false]);
    expect($s('#candidates tr.current')).toHaveLength(0);
  });
});

describe('GET /platform/ai-management/features?tab=models, hints', () => {
  it("when a model's provider is inactive or keyless, then its radio is disabled with the reason; rollback is not offered to the model serving now", async () => {
    const f = await makeFeature(t.db);
    const $ = await c.tab(f.name, 'staging');
    const mini = $('#candidates tr[data-model="gpt-4o-mini"]');
    expect(mini.find('input[type="radio"]').attr('disabled')).toBeDefined();
    expect(text(mini.find('td').eq(2))).toContain('OpenAI is inactive');
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);
    await c.changed(f.name, second);
    await c.changed(f.name, first);
    const rollbacks = (await c.tab(f.name, 'staging'))('#assignment-history form[action$="/rollback"]');
    // Three rows: first (active), second, first (earlier): only "second" can be rolled back to.
    expect(rollbacks).toHaveLength(1);
  });
});
