import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentStatus } from '../../../src/domain.ts';
import { DAY } from '../../setup/usage-factory.ts';
import { type Fixture, seedDeploymentHistory, seedFixture } from './fixture.ts';
import { CATALOGUE, type Catalogue, cardOrder, catalogueUrl, openCatalogue, PROVIDERS } from './setup.ts';

// Each catalogue tab, and the provider page, answer format=csv with their data.

let c: Catalogue;
let fx: Fixture;
beforeAll(async () => {
  c = await openCatalogue('catalogue_csv');
  fx = await seedFixture(c.db);
  await seedDeploymentHistory(c.db, fx);
});
afterAll(() => c?.close());

describe('GET /platform/ai-management/models?format=csv (SPEC §5: every table answers with its data)', () => {
  const csv = async (path: string) => {
    const res = await c.admin.agent.get(path).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?[\w.-]+\.csv"?$/);
    const lines = res.text
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(','));
    return { header: lines[0], rows: lines.slice(1) };
  };

  it('when a tab is downloaded, then it holds what the tab shows: every provider, the filtered models in their order, the whole filtered history; the links say where', async () => {
    const providers = await csv(`${CATALOGUE}?format=csv`);
    expect(providers.header.slice(0, 4)).toEqual(['name', 'display_name', 'kind', 'status']);
    const $p = await c.page(CATALOGUE);
    expect(providers.rows.map((r) => r[0]).sort()).toEqual(
      $p('li.provider-card')
        .toArray()
        .map((li) => $p(li).attr('data-provider'))
        .sort(),
    );
    expect($p('a[download]').attr('href')).toBe(`${CATALOGUE}?format=csv`);
    // Numbers as a reader uses them, rounded by the unit the header names, with no float noise.
    const decimalsIn = (cell: string) => cell.split('.')[1]?.length ?? 0;
    const widest = (header: string) => Math.max(...providers.rows.map((r) => decimalsIn(r[providers.header.indexOf(header)])));
    expect(providers.rows.some((r) => decimalsIn(r[providers.header.indexOf('response_time_ms_24h')]) > 0)).toBe(true);
    expect(widest('response_time_ms_24h')).toBeLessThanOrEqual(1);
    expect(widest('success_rate_pct_24h')).toBeLessThanOrEqual(3);
    expect(widest('uptime_pct_24h')).toBeLessThanOrEqual(3);
    expect(widest('health_score')).toBeLessThanOrEqual(1);
    expect(widest('monthly_spend_usd')).toBeLessThanOrEqual(8);

    const params = { tab: 'models', provider: 'acme', sort: 'usage' };
    const models = await csv(catalogueUrl({ ...params, format: 'csv' }));
    const $m = await c.page(catalogueUrl(params));
    expect(models.rows.map((r) => r[1])).toEqual(cardOrder($m));
    expect($m('#model-results a[download]').attr('href')).toBe(catalogueUrl({ ...params, format: 'csv' }));

    const ids = (status?: DeploymentStatus) =>
      c
        .db('deployments')
        .where(status ? { status } : {})
        .orderBy('started_at', 'desc')
        .orderBy('id')
        .pluck('id');
    const all = await ids();
    expect(all.length).toBeGreaterThan(25); // more than a page: the download is not just the page
    const history = await csv(catalogueUrl({ tab: 'deployments', page: '2', format: 'csv' }));
    expect(history.header).toEqual([
      'id',
      'started_at',
      'finished_at',
      'feature',
      'environment',
      'model',
      'kind',
      'status',
      'requested_by',
      'error',
      'prompt_version',
    ]);
    expect(history.rows.map((r) => r[0])).toEqual(all);
    expect((await csv(catalogueUrl({ tab: 'deployments', status: 'success', format: 'csv' }))).rows.map((r) => r[0])).toEqual(
      await ids('success'),
    );
    await c.admin.agent.get(catalogueUrl({ tab: 'models', format: 'pdf' })).expect(400);
  });

  it('when the provider page is downloaded, then its hour-by-hour table comes as CSV, 25 rows oldest first', async () => {
    const { header, rows } = await csv(`${PROVIDERS}/acme?format=csv`);
    expect(header).toEqual([
      'hour_start_utc',
      'requests',
      'success_rate_pct',
      'uptime_pct',
      'response_time_ms',
      'latency_score',
      'health_score',
    ]);
    expect(rows).toHaveLength(25);
    const starts = rows.map((r) => Date.parse(r[0]));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    const requests = rows.reduce((n, r) => n + Number(r[1]), 0);
    const { n } = (await c
      .db('ai_usage_logs')
      .where({ provider_id: fx.acme.id })
      .where('created_at', '>=', new Date(Date.now() - DAY + 60_000))
      .count({ n: '*' })
      .first())!;
    expect(Math.abs(requests - Number(n))).toBeLessThanOrEqual(1); // the window moved by the time of two requests at most
    await c.admin.agent.get(`${PROVIDERS}/acme?format=xml`).expect(400);
  });
});
