import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { apiKey, makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import { answerJson, CHAT_COMPLETION, fakeProvider, gate } from '../../setup/fake-provider.ts';
import { text } from '../../setup/html.ts';
import type { ModelRecord } from '../../setup/rows.ts';
import { ALL_PASSED, checksOf, listedChecks, type ModelsTab, openModelsTab } from './setup.ts';

// Changes of a feature's model the pipeline or the form refuses: 422 (409 for a lost race) with
// #deployment-result naming what failed, and the assignment that served serves on.

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/features/:slug/models refusals', () => {
  it.each([
    [
      'its smoke request fails (errorRate 1)',
      { errorRate: 1 },
      {},
      [
        ['model', true],
        ['provider', true],
        ['smoke', false],
      ],
      () => 'smoke request failed: the provider answered 503',
    ],
    [
      'it is offline',
      {},
      { status: 'offline' },
      [['model', false]],
      (m: ModelRecord) => `${m.display_name} is offline and cannot be assigned`,
    ],
    [
      'it is an embedding model for an llm feature',
      {},
      { model_type: 'embedding' },
      [['model', false]],
      (m: ModelRecord) => `Test feature needs a model of type llm; ${m.display_name} is of type embedding`,
    ],
  ] as const)(
    'when the model is refused because %s, then 422 with #deployment-result naming the failed check, and the old assignment serves on',
    async (_why, behaviour, fields, checks, detail) => {
      const f = await makeFeature(t.db);
      const [served, refused] = [await makeModel(t.db), await makeModel(t.db, fields)];
      c.sim.configure(refused.name, behaviour);
      await c.changed(f.name, served);
      const res = await c.change(f.name, refused).expect(422);
      const $ = load(res.text);
      expect(text($('#deployment-result h3'))).toBe('The deployment was refused; nothing was changed');
      expect(listedChecks($).map(([name, ok]) => [name, ok])).toEqual(checks);
      expect(listedChecks($).at(-1)![2]).toBe(detail(refused));
      expect(text($('#current-model strong'))).toBe(served.display_name);
      expect($('#feature-panel').attr('data-feature')).toBe(f.name);
      expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');

      expect(await c.activeIds(f.id, 'staging')).toEqual([served.id]);
      expect((await c.historyOf(f.id, 'staging')).length).toBe(1);
      const last = (await c.deploymentsOf(f.id)).at(-1)!;
      // The refusal says why and links to the stored deployment.
      expect(text($('#deployment-result > p'))).toBe(`${detail(refused)} · the deployment`);
      expect($('#deployment-result > p a').attr('href')).toBe(`/platform/ai-management/deployments/${last.id}`);
      expect(last).toMatchObject({
        status: 'failed',
        model_id: refused.id,
        previous_model_id: served.id,
        assignment_id: null,
        error: detail(refused),
      });
      expect(checksOf(last)).toEqual(checks);
    },
  );

  it('when two changes of the same environment race, then one lands (303) and the other is refused with 409 on the tab, its checks passed', async () => {
    const f = await makeFeature(t.db);
    // Both smoke requests are held by the provider until both have arrived: each change read "nothing
    // serves staging" before either could switch.
    const answer = gate();
    const server = await fakeProvider(answerJson(CHAT_COMPLETION, { after: answer.opened }));
    const provider = await makeProvider(t.db, { status: 'active', base_url: server.url, key: apiKey() });
    const [a, b] = [await makeModel(t.db, { provider_id: provider.id }), await makeModel(t.db, { provider_id: provider.id })];
    const both = Promise.all([c.change(f.name, a).then((r) => r), c.change(f.name, b).then((r) => r)]);
    await server.received(2);
    answer.open();
    const [ra, rb] = await both.finally(() => server.close());
    const [won, lost] = ra.status === 303 ? [a, rb] : [b, ra];
    expect([ra.status, rb.status].sort()).toEqual([303, 409]);
    const $ = load(lost.text);
    expect(text($('#deployment-result > p'))).toMatch(
      /^Another change to staging landed while this deployment ran; nothing was changed\. Try again\./,
    );
    expect(listedChecks($).map(([name, ok]) => [name, ok])).toEqual(ALL_PASSED);
    expect(await c.activeIds(f.id, 'staging')).toEqual([won.id]);
    expect((await c.deploymentsOf(f.id)).map((d) => d.status).sort()).toEqual(['failed', 'success']);
  });

  it('when no model is chosen, then 422 saying so on the tab, and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const res = await c.post(f.name, 'models', { environment: 'staging' }).expect(422);
    const $ = load(res.text);
    expect(text($('#deployment-result > p'))).toBe('Choose a model first.');
    expect($('#deployment-result li')).toHaveLength(0);
    expect($('nav.ranges[aria-label="Environment"] a[aria-current="page"]').text()).toBe('Staging');
    expect(text($('#current-model'))).toBe('No model assigned in staging.');
    expect(await c.deploymentsOf(f.id)).toEqual([]);
    expect(await c.historyOf(f.id, 'staging')).toEqual([]);
  });

  it('when the feature does not exist, then 404 and nothing is written', async () => {
    const model = await makeModel(t.db);
    await c.post(`nope-${suffix()}`, 'models', { model_id: model.id, environment: 'staging' }).expect(404);
    expect(await t.db('deployments').where({ model_id: model.id })).toEqual([]);
  });
});

describe('POST /platform/ai-management/features/:slug/models, /promote and /rollback with odd input', () => {
  it('when the environment is unknown, the promotion source is an inherited property name, or the feature is unknown, then 422 in the tab (404 for the feature) and nothing is written', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    let res = await c.post(f.name, 'models', { model_id: model.id, environment: 'qa' }).expect(422);
    expect(text(load(res.text)('#deployment-result p').first())).toBe(
      'Nothing was deployed: environment must be one of development, staging, production',
    );
    for (const from of ['constructor', '__proto__', 'toString']) {
      res = await c.post(f.name, 'promote', { from }).expect(422);
      expect(text(load(res.text)('#deployment-result p').first())).toBe(
        'Promotion goes from development to staging or from staging to production',
      );
    }
    await c.post('no-such-feature', 'promote', { from: 'development' }).expect(404);
    await c.post('no-such-feature', 'rollback', { assignment_id: model.id }).expect(404);
    expect(await c.deploymentsOf(f.id)).toEqual([]);
  });
});
