import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fragment, hx, tableRows, text } from '../../setup/html.ts';
import { openPrompts, PAGE, type Prompts, tabUrl } from './setup.ts';

// The Prompts tab (issue 15): versions with their variables and where each is active, the new-version
// form (plain POST → 303, 422 inline with nothing written, htmx on top), the diff at a URL of its own,
// activation forms, the history of who moved what, when and why, and the CSV of the versions.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const postForm = (path: string, body: Record<string, string>, as = p.admin) =>
  as.agent
    .post(`${PAGE}/${path}`)
    .type('form')
    .send({ _csrf: as.csrf, ...body });
const versionCount = async (featureId: string) => (await p.t.db('prompt_versions').where({ feature_id: featureId })).length;

describe('the Prompts tab', () => {
  it('lists the versions newest first with their variables, where each is active, a diff link, and the history with who, why and the outcome', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'Tag {{photo}}', sample_values: { photo: 'cat.jpg' }, note: 'first' });
    await p.saved(feature.id, { template: 'Tag <b>{{photo}}</b> in {{lang}}', sample_values: { photo: 'cat.jpg', lang: 'en' } });
    await p
      .api('post', `/features/${feature.id}/prompts/2/activate`)
      .send({ environment: 'production', reason: 'better tags' })
      .expect(201);
    const $ = await p.page(tabUrl(feature.name));
    const rows = $('#prompt-versions tbody tr').toArray();
    expect(rows.map((r) => $(r).attr('data-version'))).toEqual(['2', '1']);
    const v2 = $('#prompt-versions tr[data-version="2"]');
    expect(v2.find('pre').text()).toBe('Tag <b>{{photo}}</b> in {{lang}}');
    expect(
      v2
        .find('td code')
        .toArray()
        .map((c) => $(c).text()),
    ).toEqual(['photo', 'lang']);
    expect(text(v2.find('.badge'))).toBe('production');
    expect(v2.find('a[href*="from=1"]').attr('href')).toBe(`${PAGE}?feature=${feature.name}&tab=prompts&from=1&to=2`);
    expect(text($('#prompt-environments tr[data-prompt-environment="production"] td').first())).toBe('Version 2');
    const history = $('#prompt-history tbody tr td')
      .toArray()
      .map((c) => text($(c)));
    expect(history.slice(1)).toEqual(['production', 'activate none → v2', model.display_name, p.token.label, 'better tags', 'success']);
    await p.api('post', `/features/${feature.id}/prompts/1/activate`).send({ environment: 'production', reason: 'back' }).expect(201);
    const later = await p.page(tabUrl(feature.name));
    expect(later('#prompt-history tbody tr').first().find('a[title]').attr('href')).toBe(
      `${PAGE}?feature=${feature.name}&tab=prompts&from=2&to=1`,
    );
    expect(text(later('#prompt-history tbody tr').first().find('td').eq(2))).toBe('rollback v2 → v1');
    // The new-version form is prefilled with the latest.
    expect($('#prompt-template').text()).toBe('Tag <b>{{photo}}</b> in {{lang}}');
    expect($('#prompt-sample_values').text()).toBe('photo = cat.jpg\nlang = en');
  });

  it('when a viewer opens it, then it shows the versions but no form, and a viewer POST is 403', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'one' });
    const $ = await p.page(tabUrl(feature.name), p.viewer);
    expect($('#prompt-versions tbody tr')).toHaveLength(1);
    expect($('#prompts-tab form[method="post"]')).toHaveLength(0);
    await postForm(`${feature.name}/prompts`, { template: 'two' }, p.viewer).expect(403);
    await postForm(`${feature.name}/prompts/1/activate`, { environment: 'staging' }, p.viewer).expect(403);
    expect(await versionCount(feature.id)).toBe(1);
  });
});

describe('prompt deployments in the deployment histories', () => {
  it('when a version is activated, then its deployment page, the model page and the deployments tab say it is a prompt activation', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'one' });
    const res = await p
      .api('post', `/features/${feature.id}/prompts/1/activate`)
      .send({ environment: 'staging', reason: 'why not' })
      .expect(201);
    const id = res.body.data.deployment.id;
    const page = await p.page(`/platform/ai-management/deployments/${id}`);
    expect(text(page('h1'))).toBe('Deployment of prompt version 1 to staging');
    expect(text(page('#deployment-status'))).toContain(`Prompt version 1, checked with ${model.display_name} · why: why not`);
    expect(page('main a[href*="tab=prompts"]').length).toBeGreaterThan(0);
    const modelPage = await p.page(`/platform/ai-management/models/${model.id}`);
    expect(text(modelPage('td[data-label="Kind"]').first())).toBe('prompt v1 (assign)');
    const tab = await p.page(`/platform/ai-management/models?tab=deployments&feature=${feature.name}`);
    expect(text(tab('#deployments td[data-label="Kind"]').first())).toBe('prompt v1 (assign)');
  });
});

describe('POST …/features/:slug/prompts (the new-version form)', () => {
  it('when v2 adds a line, then 303 to its diff, which shows the added line as <ins> and the removed one as <del>, parameters too', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'Be brief.\nAnswer {{q}}', sample_values: { q: 'why' } });
    const res = await postForm(`${feature.name}/prompts`, {
      template: 'Be kind.\nAnswer {{q}}\nCite sources.',
      sample_values: 'q = why',
      temperature: '0.4',
      max_tokens: '',
      stop: 'END\nSTOP',
      note: 'kinder',
    }).expect(303);
    expect(res.headers.location).toBe(`${PAGE}?feature=${feature.name}&tab=prompts&from=1&to=2`);
    const $ = await p.page(res.headers.location);
    expect(
      $('#template-diff ins')
        .toArray()
        .map((e) => $(e).text()),
    ).toEqual(['Be kind.', 'Cite sources.']);
    expect(
      $('#template-diff del')
        .toArray()
        .map((e) => $(e).text()),
    ).toEqual(['Be brief.']);
    expect(text($('#params-diff tr[data-key="temperature"]'))).toBe('temperature — 0.4');
    expect(text($('#params-diff tr[data-key="stop"] ins'))).toBe('"END", "STOP"');
    expect(text($('#samples-diff tr[data-key="q"]'))).toBe('q why why');
    expect(text($('.flash'))).toContain('Saved as version 2.');
    expect(await p.t.db('prompt_versions').where({ feature_id: feature.id, version: 2 }).first()).toMatchObject({
      params: { temperature: 0.4, stop: ['END', 'STOP'] },
      notes: 'kinder',
      created_by: p.admin.user.email,
    });
  });

  it('when the form is invalid, then 422 with the message on the field, the values kept, and nothing written', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'one' });
    for (const [body, field, message] of [
      [{ template: 'Hi {{ bad name }}' }, 'template', 'Template has a “{{” on line 1 that is not a {{variable}} placeholder'],
      [{ template: 'Hi {{a}}', sample_values: 'a: 1' }, 'sample_values', 'Sample values line 1 must read name = value'],
      [{ template: 'Hi', temperature: 'hot' }, 'temperature', 'Temperature must be a number from 0 to 2'],
    ] as const) {
      const res = await postForm(`${feature.name}/prompts`, body).expect(422);
      const $ = load(res.text);
      expect(text($(`#prompt-${field}-error`))).toBe(message);
      expect($(`#prompt-${field}`).attr('aria-invalid')).toBe('true');
      expect($('#prompt-template').text()).toBe(body.template);
      expect($('#new-prompt-version').attr('open')).toBeDefined();
    }
    expect(await versionCount(feature.id)).toBe(1);
  });

  it('when the form carries a template of 100,000 characters, then it is saved; one character more is refused on the field', async () => {
    const { feature } = await p.feature();
    await postForm(`${feature.name}/prompts`, { template: 'é\n'.repeat(50_000) }).expect(303);
    const res = await postForm(`${feature.name}/prompts`, { template: `${'é\n'.repeat(50_000)}x` }).expect(422);
    expect(text(load(res.text)('#prompt-template-error'))).toBe('Template must be at most 100,000 characters (100 kB)');
    expect(await versionCount(feature.id)).toBe(1);
  });

  it('when Preview is pressed, then the form comes back with each variable, its sample value or "missing", the rendered template, and nothing is written', async () => {
    const { feature } = await p.feature();
    const res = await postForm(`${feature.name}/prompts`, {
      template: 'Hi {{name}} in {{city}}',
      sample_values: 'name = Ada',
      preview: '1',
    }).expect(200);
    const $ = load(res.text);
    expect(tableRows($, '#preview-variables tbody')).toEqual([
      ['name', 'Ada'],
      ['city', 'missing: activation will refuse it'],
    ]);
    expect(text($('#preview-rendered'))).toBe('It cannot render: no sample value for city.');
    expect($('#prompt-template').text()).toBe('Hi {{name}} in {{city}}');
    const ok = load(
      (await postForm(`${feature.name}/prompts`, { template: 'Hi {{name}}', sample_values: 'name = Ada', preview: '1' }).expect(200)).text,
    );
    expect(ok('#preview-rendered').text()).toBe('Hi Ada');
    expect(await versionCount(feature.id)).toBe(0);
  });

  it('when the content is identical to a version, then nothing is saved and the flash says which version has it', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'same {{x}}', sample_values: { x: '1' } });
    const res = await postForm(`${feature.name}/prompts`, { template: 'same {{x}}', sample_values: 'x = 1', note: 'again' }).expect(303);
    const $ = await p.page(res.headers.location);
    expect(text($('.flash'))).toContain('Nothing saved: version 1 has exactly this content.');
    expect(await versionCount(feature.id)).toBe(1);
  });

  it('when htmx posts, then the panel comes back at once with the pushed URL of the diff', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'a' });
    const res = await p.admin.agent
      .post(`${PAGE}/${feature.name}/prompts`)
      .set(hx('feature-panel'))
      .type('form')
      .send({ _csrf: p.admin.csrf, template: 'a\nb' })
      .expect(200);
    expect(res.headers['hx-push-url']).toBe(`${PAGE}?feature=${feature.name}&tab=prompts&from=1&to=2`);
    const $ = fragment(res.text, 'feature-panel');
    expect($('#template-diff ins').text()).toBe('b');
  });
});

describe('the diff URL and the CSV', () => {
  it('when the diff names a version that does not exist, then 404; a bad number is a 400', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'a' });
    await p.admin.agent.get(tabUrl(feature.name, { from: '1', to: '5' })).expect(404);
    await p.admin.agent.get(tabUrl(feature.name, { from: 'x', to: '1' })).expect(400);
  });

  it('when format=csv is asked for, then the versions come as CSV, newest first', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'a {{x}}', sample_values: { x: '1' }, params: { max_tokens: 7 } });
    await p.saved(feature.id, { template: '=b', note: 'formula-looking' });
    const res = await p.viewer.agent
      .get(`${PAGE}/${feature.name}/prompts?format=csv`)
      .expect(200)
      .expect('content-type', /text\/csv/);
    const lines = res.text.trim().split('\r\n');
    expect(lines[0]).toBe('version,created_at,created_by,note,variables,temperature,max_tokens,stop,active_in,content_hash,template');
    expect(lines[1]).toMatch(/^2,.*,formula-looking,,,,,,[0-9a-f]{64},"'=b"$/);
    expect(lines[2]).toMatch(/^1,.*,x,,7,,,[0-9a-f]{64},a \{\{x\}\}$/);
  });
});

describe('POST …/features/:slug/prompts/:version/activate (the activation form)', () => {
  it('when every check passes, then 303 to the tab and the version is active; a refused one is 422 with its checks and nothing moved', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'Hi {{name}}', sample_values: { name: 'Ada' } });
    await p.saved(feature.id, { template: 'Hi {{name}} of {{town}}', sample_values: { name: 'Ada' } });
    await postForm(`${feature.name}/prompts/1/activate`, { environment: 'development', reason: 'try it' })
      .expect(303)
      .expect('location', tabUrl(feature.name));
    expect(await p.activeVersion(feature.id, 'development')).toBe(1);
    const res = await postForm(`${feature.name}/prompts/2/activate`, { environment: 'development' }).expect(422);
    const $ = load(res.text);
    expect(text($('#deployment-result p').first())).toMatch(/^no sample value for \{\{town\}\}: the template cannot render/);
    expect($('#deployment-result li[data-check="failed"]').text()).toMatch(/^render/);
    expect(await p.activeVersion(feature.id, 'development')).toBe(1);
    const refused = await postForm(`${feature.name}/prompts/1/activate`, { environment: 'development' }).expect(422);
    expect(text(load(refused.text)('#deployment-result p').first())).toBe(
      'Nothing was activated: version is already active in development',
    );
  });
});
