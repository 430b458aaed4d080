import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeFeature, makeModel, suffix } from '../setup/factories.ts';
import { getPage } from '../setup/html.ts';
import { type Agent, signInAs } from '../setup/session.ts';

let t: TestContext;
let agent: Agent;
beforeAll(async () => {
  t = startTestApp();
  ({ agent } = await signInAs(t, 'viewer'));
});
afterAll(() => t.close());

const actor = { actor_type: 'user' as const, actor_id: null, actor_label: `audit-test-${suffix()}` };
const entryRow = async (entry: { action: string; entity_type: string; entity_id: string; before?: unknown; after?: unknown }) => {
  const [row] = await t
    .db('audit_log')
    .insert({
      ...actor,
      ...entry,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
    })
    .returning('id');
  return row.id as number;
};
const rowOf = async (id: number) => {
  const $ = await getPage(agent, `/platform/ai-management/audit?before=${id + 1}`);
  return { $, row: $(`#audit tr[data-entry="${id}"]`) };
};

describe('audit log: names instead of ids', () => {
  it("when a deployment switched a feature's model, then its entry names the feature and both models, and links to the deployment", async () => {
    const feature = await makeFeature(t.db, { display_name: `Photo tagging ${suffix()}` });
    const from = await makeModel(t.db, { display_name: `Old model ${suffix()}` });
    const to = await makeModel(t.db, { display_name: `New model ${suffix()}` });
    const [deployment] = await t
      .db('deployments')
      .insert({
        feature_id: feature.id,
        model_id: to.id,
        previous_model_id: from.id,
        environment: 'production',
        kind: 'assign',
        requested_by: 'test',
      })
      .returning('id');
    const id = await entryRow({
      action: 'deployment.succeeded',
      entity_type: 'feature',
      entity_id: feature.id,
      before: { environment: 'production', model_id: from.id },
      after: { environment: 'production', model_id: to.id, deployment_id: deployment.id, assignment_id: crypto.randomUUID() },
    });
    const { row } = await rowOf(id);
    expect(row.find(`.audit-entity a[href="/platform/ai-management/features?feature=${feature.name}"]`).text()).toBe(feature.display_name);
    expect(row.find(`a.audit-deployment[href="/platform/ai-management/deployments/${deployment.id}"]`)).toHaveLength(1);
    const lines = row
      .find('.change-list li')
      .map((_i, li) => row.find(li).text().trim())
      .get();
    expect(lines).toContain(`model_id: ${from.display_name} → ${to.display_name}`);
    expect(lines.some((l) => l.startsWith('environment'))).toBe(false); // unchanged keys are left out
    expect(row.find(`.change-list a[href="/platform/ai-management/models/${to.id}"]`).text()).toBe(to.display_name);
    expect(row.find('details pre').first().text()).toContain(from.id); // the raw JSON stays available
  });

  it('when a model was deprecated, then its entry reads "status: available → deprecated" and names the model', async () => {
    const model = await makeModel(t.db, { display_name: `Deprecated ${suffix()}` });
    const same = { display_name: model.display_name, input_price_per_1k: 0.001 };
    const id = await entryRow({
      action: 'model.updated',
      entity_type: 'model',
      entity_id: model.id,
      before: { ...same, status: 'available' },
      after: { ...same, status: 'deprecated' },
    });
    const { row } = await rowOf(id);
    expect(
      row
        .find('.change-list li')
        .map((_i, li) => row.find(li).text().trim())
        .get(),
    ).toEqual(['status: available → deprecated']);
    expect(row.find(`.audit-entity a[href="/platform/ai-management/models/${model.id}"]`).text()).toBe(model.display_name);
  });

  it('when the entity was deleted, then the entry still renders with its id; a creation lists the values set', async () => {
    const gone = crypto.randomUUID();
    const id = await entryRow({
      action: 'api_key.created',
      entity_type: 'api_key',
      entity_id: gone,
      after: { name: 'ci', scope: 'read', prefix: 'sb_abcdefg' },
    });
    const { row } = await rowOf(id);
    expect(row.find('.audit-entity code.muted').text()).toBe(gone);
    expect(
      row
        .find('.change-list li')
        .map((_i, li) => row.find(li).text().trim())
        .get(),
    ).toEqual(['name: ci', 'scope: read', 'prefix: sb_abcdefg']);
  });
});
