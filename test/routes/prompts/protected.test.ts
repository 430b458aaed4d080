import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../../setup/app.ts';
import { ownSeededDatabase } from '../../setup/scratch-db.ts';
import { signInAs } from '../../setup/session.ts';
import { openPrompts, type Prompts } from './setup.ts';

// A prompt activation in a protected environment (issues 14 and 15): filed as a change request (409
// with it from the API, a flash on the page), nothing moved; another admin's approval runs the
// pipeline. The policy is global, so this file has a database of its own.

let p: Prompts;
let drop: () => Promise<void>;
beforeAll(async () => {
  const own = await ownSeededDatabase('prompts_protected');
  drop = own.drop;
  p = await openPrompts(startTestApp({ databaseUrl: own.url }, own.db));
  await p.admin.agent
    .post('/platform/ai-management/approvals/policies/production')
    .type('form')
    .send({ _csrf: p.admin.csrf, requires_approval: 'yes' })
    .expect(303);
});
afterAll(async () => {
  await p?.close();
  await drop?.();
});

describe('activating a prompt version in a protected production', () => {
  it('when a token activates, then 409 with the change request and nothing moves; another admin approves and the pipeline activates it', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'v1 {{a}}', sample_values: { a: '1' } });
    const res = await p
      .api('post', `/features/${feature.id}/prompts/1/activate`)
      .send({ environment: 'production', reason: 'launch' })
      .expect(409);
    expect(res.body).toMatchObject({
      success: false,
      error: expect.stringContaining('production is protected'),
      details: {
        change_request: { status: 'pending', environment: 'production', prompt_version_id: expect.any(String), reason: 'launch' },
      },
    });
    expect(await p.activeVersion(feature.id, 'production')).toBeNull();
    expect(await p.t.db('deployments').where({ feature_id: feature.id })).toEqual([]);

    const other = await signInAs(p.t, 'admin');
    const id = res.body.details.change_request.id;
    const $ = await p.page('/platform/ai-management/approvals', other);
    const row = $(`tr:has(form[action$="/${id}/approve"]) th`);
    expect(row.text().replace(/\s+/g, ' ').trim()).toMatch(/: assign prompt none → v1 \(checked with Model m-[0-9a-f]+\)$/);
    await other.agent.post(`/platform/ai-management/approvals/${id}/approve`).type('form').send({ _csrf: other.csrf }).expect(303);
    expect(await p.activeVersion(feature.id, 'production')).toBe(1);
    expect(await p.t.db('change_requests').where({ id }).first()).toMatchObject({ status: 'applied', deployment_id: expect.any(String) });
    const deployment = await p.t.db('deployments').where({ feature_id: feature.id }).first();
    expect(deployment).toMatchObject({
      subject: 'prompt',
      status: 'success',
      reason: 'launch',
      requested_by: expect.stringContaining('approving'),
    });
  });

  it('when the form promotes staging to production, then a change request is filed with a flash, and staging itself activates at once', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'one' });
    await p.activated(feature.id, 1, 'staging');
    await p.admin.agent
      .post(`/platform/ai-management/features/${feature.name}/prompts/promote`)
      .type('form')
      .send({ _csrf: p.admin.csrf, from: 'staging' })
      .expect(303);
    expect(await p.activeVersion(feature.id, 'production')).toBeNull();
    expect(await p.t.db('change_requests').where({ feature_id: feature.id })).toMatchObject([{ kind: 'promote', status: 'pending' }]);
    const $ = await p.page(`/platform/ai-management/features?feature=${feature.name}&tab=prompts`);
    expect($('.flash, [role="status"]').text()).toMatch(/production is protected/);
  });
});
