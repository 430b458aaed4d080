import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from '../../setup/html.ts';
import { DEFAULT_FORM, openSettingsTab, type SettingsTab } from './setup.ts';

// Which clients hold a feature's current runtime config: each token's fetch is noted per environment
// (one row, updated in place), and the Settings tab counts those on the current version.

let c: SettingsTab;
beforeAll(async () => {
  c = await openSettingsTab();
});
afterAll(() => c?.close());

describe('runtime config fetches on the Settings tab', () => {
  it('when two tokens fetch and one fetches again after a change, then "1 of 2 on the current version", each token named, and one row per token and environment', async () => {
    const { f } = await c.serving();
    const [a, b] = [await c.token('read'), await c.token('ingest')];
    for (let i = 0; i < 3; i++) await c.config(f.name, a.token).expect(200);
    const etag = (await c.config(f.name, b.token).expect(200)).headers.etag;
    await c.config(f.name, b.token, 'staging').expect(200);

    await c.post(f.name, { ...DEFAULT_FORM, latency_threshold_ms: '1800' }).expect(303);
    await c.config(f.name, a.token).expect(200);
    await c.config(f.name, a.token, 'production', etag).expect(200); // a 304 would be noted the same way

    const $ = await c.tab(f.name);
    const production = $('#config-clients > li[data-environment="production"]');
    expect(text(production.find('.clients-summary'))).toMatch(
      /^Production clients on the current version: 1 of 2 \(last fetch \d+ s ago\)$/,
    );
    const tokens = production
      .find('li')
      .toArray()
      .map((li) => [$(li).attr('data-current'), text($(li)).split(' · ')[0]]);
    expect(tokens).toEqual([
      ['true', a.name],
      ['false', b.name],
    ]);
    expect(text($('#config-clients > li[data-environment="staging"] .clients-summary'))).toMatch(
      /^Staging clients on the current version: 0 of 1/,
    );
    expect(text($('#config-clients > li[data-environment="development"]'))).toBe('No client has fetched the development config yet.');

    const rows = await c.t
      .db('runtime_config_fetches')
      .where({ feature_id: f.id })
      .orderBy(['environment', 'last_fetched_at'])
      .select('environment', 'api_key_id', 'last_version');
    expect(rows.map((r) => r.environment)).toEqual(['production', 'production', 'staging']);

    await c.t.db('api_keys').where({ name: b.name }).update({ revoked_at: new Date() });
    const revoked = await c.tab(f.name);
    expect(text(revoked('#config-clients > li[data-environment="production"] .clients-summary'))).toMatch(
      /^Production clients on the current version: 1 of 1 /,
    );
  });

  it('when a signed-in person reads the config, then no client is noted', async () => {
    const { f } = await c.serving();
    await c.admin.agent.get(`/api/v1/features/${f.name}/config`).expect(200);
    expect(await c.t.db('runtime_config_fetches').where({ feature_id: f.id })).toEqual([]);
  });
});
