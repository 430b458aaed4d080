import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../setup/app.ts';
import { makeFeature, makeModel } from '../../setup/factories.ts';
import { text } from '../../setup/html.ts';
import { ALL_PASSED, checksOf, FLASH, listedChecks, type ModelsTab, openModelsTab, tabUrl } from './setup.ts';

// Promoting an environment's model to the next environment, and rolling back to an earlier
// assignment: both go through the deployment pipeline, as promote and rollback deployments.

let c: ModelsTab;
let t: TestContext;
beforeAll(async () => {
  c = await openModelsTab();
  ({ t } = c);
});
afterAll(() => c?.close());

describe('POST /platform/ai-management/features/:slug/promote', () => {
  it('when development and staging have models, then promoting development makes staging serve its model, as a promote deployment', async () => {
    const f = await makeFeature(t.db);
    const [dev, stage] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, dev, 'development');
    await c.changed(f.name, stage, 'staging');
    const res = await c.post(f.name, 'promote', { from: 'development' }).expect(303);
    expect(res.headers.location).toBe(tabUrl(f.name, 'staging'));
    const $ = await c.tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(dev.display_name);

    expect(await c.activeIds(f.id, 'staging')).toEqual([dev.id]);
    expect(await c.activeIds(f.id, 'development')).toEqual([dev.id]);
    const last = (await c.deploymentsOf(f.id)).at(-1)!;
    expect(last).toMatchObject({
      kind: 'promote',
      status: 'success',
      environment: 'staging',
      model_id: dev.id,
      previous_model_id: stage.id,
    });
    expect(checksOf(last)).toEqual(ALL_PASSED);
    expect(await t.db('audit_log').where({ entity_id: f.id, action: 'deployment.promoted' }).select('id')).toHaveLength(1);
  });

  it.each([
    ['production', 'Promotion goes from development to staging or from staging to production'],
    ['development', 'Nothing serves development, so there is nothing to promote'],
    ['', 'Promotion goes from development to staging or from staging to production'],
  ])(
    'when promoting from "%s" (which has nowhere to go or nothing to send), then 422 "%s" and nothing is written',
    async (from, message) => {
      const f = await makeFeature(t.db);
      const model = await makeModel(t.db);
      await c.changed(f.name, model, 'production');
      const before = await c.deploymentsOf(f.id);
      const res = await c.post(f.name, 'promote', { from }).expect(422);
      expect(text(load(res.text)('#deployment-result p').first())).toBe(message);
      expect(await c.deploymentsOf(f.id)).toEqual(before);
      expect(await c.activeIds(f.id, 'staging')).toEqual([]);
    },
  );
});

describe('POST /platform/ai-management/features/:slug/rollback', () => {
  it('when staging changed twice, then rolling back to the first assignment makes its model serve again, as a rollback deployment', async () => {
    const f = await makeFeature(t.db);
    const [first, second] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, first);
    await c.changed(f.name, second);
    const [earlier] = await c.historyOf(f.id, 'staging');
    const res = await c.post(f.name, 'rollback', { assignment_id: earlier.id }).expect(303);
    expect(res.headers.location).toBe(tabUrl(f.name, 'staging'));
    const $ = await c.tab(f.name, 'staging');
    expect(text($('.flash-success'))).toBe(FLASH);
    expect(text($('#current-model strong'))).toBe(first.display_name);
    expect(
      $('#assignment-history tbody tr')
        .toArray()
        .map((tr) => text($(tr).children().first())),
    ).toEqual([first, second, first].map((m) => m.display_name));

    expect(await c.activeIds(f.id, 'staging')).toEqual([first.id]);
    const history = await c.historyOf(f.id, 'staging');
    expect(history.map((h) => [h.model_id, h.is_active])).toEqual([
      [first.id, false],
      [second.id, false],
      [first.id, true],
    ]);
    const last = (await c.deploymentsOf(f.id)).at(-1)!;
    expect(last).toMatchObject({
      kind: 'rollback',
      status: 'success',
      model_id: first.id,
      previous_model_id: second.id,
      assignment_id: history[2].id,
    });
    expect(await t.db('audit_log').where({ entity_id: f.id, action: 'deployment.rolled_back' }).select('id')).toHaveLength(1);
  });

  it('when rolling back to the assignment that serves now, then the pipeline refuses it (422 with the model check) and nothing changes', async () => {
    const f = await makeFeature(t.db);
    const model = await makeModel(t.db);
    await c.changed(f.name, model);
    const [current] = await c.historyOf(f.id, 'staging');
    const $ = load((await c.post(f.name, 'rollback', { assignment_id: current.id }).expect(422)).text);
    expect(listedChecks($)).toEqual([['model', false, `${model.display_name} already serves staging`]]);
    expect(await c.historyOf(f.id, 'staging')).toEqual([current]);
  });

  it.each([
    ['an assignment of another feature', 'other'],
    ['not a uuid', 'not-a-uuid'],
    ['a uuid of nothing', '00000000-0000-4000-8000-000000000000'],
    ['missing', undefined],
  ])('when the assignment is %s, then 422 and nothing is written', async (_what, which) => {
    const [f, other] = [await makeFeature(t.db), await makeFeature(t.db)];
    const [mine, theirs] = [await makeModel(t.db), await makeModel(t.db)];
    await c.changed(f.name, mine);
    await c.changed(other.name, theirs);
    await c.changed(other.name, mine);
    const [foreign] = await c.historyOf(other.id, 'staging');
    const before = { mine: await c.deploymentsOf(f.id), theirs: await c.deploymentsOf(other.id) };
    const assignment_id = which === 'other' ? foreign.id : which;
    const res = await c.post(f.name, 'rollback', assignment_id === undefined ? {} : { assignment_id }).expect(422);
    expect(text(load(res.text)('#deployment-result p').first())).toBe('Choose an earlier assignment of this feature to roll back to');
    expect({ mine: await c.deploymentsOf(f.id), theirs: await c.deploymentsOf(other.id) }).toEqual(before);
    expect(await c.activeIds(f.id, 'staging')).toEqual([mine.id]);
    expect(await c.activeIds(other.id, 'staging')).toEqual([mine.id]);
  });
});
