import type { CheerioAPI } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorMessage, fragment, text } from '../../setup/html.ts';
import type { FeatureRecord } from '../../setup/rows.ts';
import { type Fixture, seedDeploymentHistory, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, catalogueUrl, openCatalogue } from './setup.ts';

// The Deployments tab of /platform/ai-management/models: the whole history, 25 a page, filtered by
// feature, environment, status and model, checked against the deployments table.

let c: Catalogue;
let dfA: FeatureRecord;
let dfB: FeatureRecord;
beforeAll(async () => {
  c = await openCatalogue('deployments_tab');
  const fx: Fixture = await seedFixture(c.db);
  ({ dfA, dfB } = await seedDeploymentHistory(c.db, fx));
});
afterAll(() => c?.close());

describe('GET /platform/ai-management/models?tab=deployments', () => {
  /** The deployments the page should list, newest first, by brute force from the table. */
  async function expected(
    filter: { feature?: FeatureRecord; environment?: string; status?: string; model?: string } = {},
  ): Promise<string[]> {
    const q = c.db('deployments').orderBy('started_at', 'desc').orderBy('id');
    if (filter.model) q.where('model_id', filter.model);
    if (filter.feature) q.where('feature_id', filter.feature.id);
    if (filter.environment) q.where('environment', filter.environment);
    if (filter.status) q.where('status', filter.status);
    return q.pluck('id');
  }
  const listed = ($: CheerioAPI) =>
    $('#deployments tbody tr')
      .toArray()
      .map((tr) => ($(tr).find('a').attr('href') ?? '').split('/').pop());

  it('when filtered by model (the model page links there), then only its deployments, the model named with a way back; the API filters the same; a bad id is a 400', async () => {
    const [{ model_id: modelId }] = await c.db('deployments').groupBy('model_id').orderByRaw('count(*) desc').select('model_id');
    const ids = await expected({ model: modelId });
    expect(ids.length).toBeGreaterThan(1);
    const $ = await c.page(catalogueUrl({ tab: 'deployments', model: modelId }));
    expect(listed($)).toEqual(ids.slice(0, 25));
    const name = (await c.db('ai_models').where({ id: modelId }).first('display_name'))!.display_name;
    expect(text($('.filter-note strong'))).toBe(name);
    expect($('.filter-note a').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    expect($('form.filters input[name="model"]').val()).toBe(modelId);
    const api = await c.admin.agent.get(`/api/platform/ai-management/deployments?model=${modelId}&limit=200`).expect(200);
    expect(api.body.data.map((d: { id: string }) => d.id)).toEqual(ids);
    const bad = await c.admin.agent.get(catalogueUrl({ tab: 'deployments', model: 'not-a-uuid' })).expect(400);
    expect(errorMessage(bad.text)).toBe('model must be the id of a model');
    await c.admin.agent.get('/api/platform/ai-management/deployments?model=nope').expect(400);
  });

  it('when there are more than 25 deployments, then 25 a page newest first, a link to page 2 and back, and a page beyond the last is empty', async () => {
    const all = await expected();
    expect(all.length).toBeGreaterThan(25);
    const pages = Math.ceil(all.length / 25);
    const $1 = await c.page(catalogueUrl({ tab: 'deployments' }));
    expect(listed($1)).toEqual(all.slice(0, 25));
    expect(text($1('#deployment-count[role="status"]'))).toBe(`${all.length} deployments · page 1 of ${pages}`);
    expect($1('nav.pager a[rel="next"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments&page=2`);
    expect($1('nav.pager a[rel="prev"]')).toHaveLength(0);
    const $2 = await c.page(`${CATALOGUE}?tab=deployments&page=2`);
    expect(listed($2)).toEqual(all.slice(25, 50));
    expect($2('nav.pager a[rel="prev"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    const $far = await c.page(`${CATALOGUE}?tab=deployments&page=${pages + 3}`);
    expect(listed($far)).toEqual([]);
    expect($far('nav.pager a[rel="next"]')).toHaveLength(0);
    expect(text($far('#deployment-results p.empty'))).toBe(`Page ${pages + 3} is past the last page. Go to the first page`);
    expect($far('#deployment-results p.empty a').attr('href')).toBe(`${CATALOGUE}?tab=deployments`);
    expect(text($far('#deployment-count[role="status"]'))).toBe(`${all.length} deployments`);
  });

  it('when filtered by feature, environment and status (alone and together), then exactly the matching deployments, and the pager keeps the filters', async () => {
    const cases = [
      [{ feature: dfB }, { feature: dfB.name }],
      [{ environment: 'staging' }, { environment: 'staging' }],
      [{ status: 'failed' }, { status: 'failed' }],
      [
        { feature: dfA, environment: 'production', status: 'success' },
        { feature: dfA.name, environment: 'production', status: 'success' },
      ],
    ] as const;
    for (const [filter, params] of cases) {
      const ids = await expected(filter);
      expect(ids.length, JSON.stringify(params)).toBeGreaterThan(0);
      const $ = await c.page(catalogueUrl({ tab: 'deployments', ...params }));
      expect(listed($), JSON.stringify(params)).toEqual(ids.slice(0, 25));
      for (const [k, v] of Object.entries(params)) expect($(`form.filters select[name="${k}"] option[selected]`).val()).toBe(v);
    }
    // Feature A alone has more than a page: the pager keeps the filter, and page 2 lists the rest.
    const ofA = await expected({ feature: dfA });
    expect(ofA.length).toBeGreaterThan(25);
    const $ = await c.page(catalogueUrl({ tab: 'deployments', feature: dfA.name }));
    expect($('nav.pager a[rel="next"]').attr('href')).toBe(`${CATALOGUE}?tab=deployments&feature=${dfA.name}&page=2`);
    expect(listed(await c.page(`${CATALOGUE}?tab=deployments&feature=${dfA.name}&page=2`))).toEqual(ofA.slice(25));
    const $failed = await c.page(catalogueUrl({ tab: 'deployments', status: 'failed' }));
    expect(
      $failed('#deployments tbody tr .badge')
        .toArray()
        .map((b) => text($failed(b))),
    ).toEqual((await expected({ status: 'failed' })).map(() => 'failed'));
    // Nothing matches: the message, not an empty table.
    const none = await c.page(catalogueUrl({ tab: 'deployments', feature: dfB.name, status: 'in_progress' }));
    expect(text(none('#deployment-results p.empty'))).toBe('No deployment matches these filters. Show all deployments');
  });

  it('when htmx asks for #deployment-results, then only that fragment, with the same rows as the plain URL', async () => {
    const params = { tab: 'deployments', environment: 'development', page: '1' };
    const plain = await c.page(catalogueUrl(params));
    const res = await c.admin.agent
      .get(catalogueUrl(params))
      .set({ 'HX-Request': 'true', 'HX-Target': 'div#deployment-results' })
      .expect(200);
    expect(res.headers.vary).toMatch(/HX-Target/);
    const $ = fragment(res.text, 'deployment-results', ['deployment-count']);
    expect(listed($)).toEqual(listed(plain));
    expect(listed($).length).toBeGreaterThan(0);
  });
});
