import * as cheerio from 'cheerio';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFeature } from '../../setup/factories.ts';
import { hx, text } from '../../setup/html.ts';
import { API, openPrompts, PAGE, type Prompts } from '../prompts/setup.ts';

// Test cases (issue 16): created, edited and deleted (softly) per feature from the Testing tab's forms
// (without JavaScript, and through htmx) and the JSON API; imported and exported as JSONL, all or nothing.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const tabUrl = (feature: string) => `${PAGE}?${new URLSearchParams({ feature, tab: 'testing' })}`;
const casesOf = (featureId: string) => p.t.db('test_cases').where({ feature_id: featureId }).orderBy('created_at');
const send = (method: 'patch' | 'delete', path: string, token = p.token.token) =>
  request(p.t.app)[method](`${API}${path}`).set('Authorization', `Bearer ${token}`);
const postForm = (path: string, fields: Record<string, string>, as = p.admin) =>
  as.agent
    .post(`${PAGE}/${path}`)
    .type('form')
    .send({ _csrf: as.csrf, ...fields });

const greeting = {
  name: 'Greets by name',
  input: { messages: [{ role: 'user', content: 'Say hello to Ada' }] },
  assertions: [
    { type: 'contains', value: 'ok' },
    { type: 'latency_max', ms: 5000 },
  ],
};

describe('the JSON API', () => {
  it('when a case is posted, then 201, it is listed with its defaults, and the write is audited', async () => {
    const { feature } = await p.feature();
    const res = await p.api('post', `/features/${feature.id}/test-cases`).send(greeting);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.data).toMatchObject({ ...greeting, critical: false, repeats: 1, pass_k: 1, created_by: p.token.label });
    const list = await p.api('get', `/features/${feature.name}/test-cases`);
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([res.body.data.id]);
    const audit = await p.t.db('audit_log').where({ entity_id: res.body.data.id, action: 'test_case.created' }).first();
    expect(audit?.after).toMatchObject({ feature_id: feature.id, name: greeting.name });
  });

  it('when a case is invalid, then 422 naming every field, and nothing is written', async () => {
    const { feature } = await p.feature();
    const res = await p.api('post', `/features/${feature.id}/test-cases`).send({
      name: ' ',
      input: { variables: { name: 'Ada' } },
      assertions: [
        { type: 'regex', pattern: '(' },
        { type: 'regex', pattern: 'a'.repeat(1001) },
        { type: 'similar', reference: 'x', threshold: 0.9 },
        { type: 'cost_max', usd: -1 },
      ],
      repeats: 3,
      pass_k: 4,
      colour: 'red',
    });
    expect(res.status).toBe(422);
    expect(res.body.details).toEqual({
      name: 'is required',
      'input.variables': 'need a prompt: this feature has none, give messages',
      assertions:
        '#1 has a pattern that does not compile (Invalid regular expression: /(/: Unterminated group); ' +
        '#2 has a pattern longer than 1,000 characters; #3 similar applies only to an embedding feature; ' +
        '#4 needs usd, an amount above 0 and at most 1,000',
      pass_k: 'must be a whole number from 1 to the repeats (3)',
      colour: 'is not a field of a test case',
    });
    expect(await casesOf(feature.id)).toEqual([]);
  });

  it('when a name is taken (in any case), then 422 on the name; a deleted case frees it', async () => {
    const { feature } = await p.feature();
    const first = await p.api('post', `/features/${feature.id}/test-cases`).send(greeting);
    const again = await p.api('post', `/features/${feature.id}/test-cases`).send({ ...greeting, name: 'GREETS BY NAME' });
    expect(again.status).toBe(422);
    expect(again.body.details).toEqual({ name: 'is already the name of another case of this feature' });
    expect(await send('delete', `/features/${feature.id}/test-cases/${first.body.data.id}`)).toMatchObject({ status: 200 });
    expect((await p.api('post', `/features/${feature.id}/test-cases`).send(greeting)).status).toBe(201);
  });

  it('when a case is patched, then only the given fields change; when deleted, it is kept but no longer listed', async () => {
    const { feature } = await p.feature();
    const { id } = (await p.api('post', `/features/${feature.id}/test-cases`).send(greeting)).body.data;
    expect((await p.api('get', `/features/${feature.id}/test-cases/${id}`, p.readToken)).body.data).toMatchObject({ id, ...greeting });
    expect((await p.api('get', `/features/${feature.id}/test-cases/not-an-id`)).status).toBe(404);
    const patched = await send('patch', `/features/${feature.id}/test-cases/${id}`).send({ critical: true, repeats: 3, pass_k: 2 });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.data).toMatchObject({ ...greeting, critical: true, repeats: 3, pass_k: 2 });
    const audit = await p.t.db('audit_log').where({ entity_id: id, action: 'test_case.updated' }).first();
    expect([audit?.before, audit?.after]).toMatchObject([{ critical: false }, { critical: true }]);
    const bad = await send('patch', `/features/${feature.id}/test-cases/${id}`).send({ pass_k: 9 });
    expect(bad.body.details).toEqual({ pass_k: 'must be a whole number from 1 to the repeats (3)' });
    expect((await send('delete', `/features/${feature.id}/test-cases/${id}`)).status).toBe(200);
    expect((await p.api('get', `/features/${feature.id}/test-cases`)).body.data).toEqual([]);
    expect((await casesOf(feature.id))[0].deleted_at).not.toBeNull();
    expect(await p.t.db('audit_log').where({ entity_id: id, action: 'test_case.deleted' }).first()).toBeDefined();
    expect((await send('delete', `/features/${feature.id}/test-cases/${id}`)).status).toBe(404);
  });

  it('when a read token writes, then 403 and nothing is written; it may read', async () => {
    const { feature } = await p.feature();
    const res = await p.api('post', `/features/${feature.id}/test-cases`, p.readToken).send(greeting);
    expect(res.status).toBe(403);
    const jsonl = await p
      .api('post', `/features/${feature.id}/test-cases`, p.readToken)
      .type('application/jsonl')
      .send(JSON.stringify(greeting));
    expect(jsonl.status).toBe(403);
    expect(await casesOf(feature.id)).toEqual([]);
    expect((await p.api('get', `/features/${feature.id}/test-cases`, p.readToken)).status).toBe(200);
  });

  it('when the feature has a prompt, then variables are an input; an embedding feature takes similar, not text assertions', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'Hello {{name}}', sample_values: { name: 'Ada' } });
    const vars = await p
      .api('post', `/features/${feature.id}/test-cases`)
      .send({ name: 'v', input: { variables: { name: 'Grace' } }, assertions: [{ type: 'json', required_keys: ['a'] }] });
    expect(vars.status).toBe(201);
    const embedding = await makeFeature(p.t.db, { required_model_type: 'embedding' });
    const input = { messages: [{ role: 'user', content: 'reset password' }] };
    const similar = await p.api('post', `/features/${embedding.id}/test-cases`).send({
      name: 's',
      input,
      assertions: [{ type: 'similar', reference: 'How to reset a password', threshold: 0.8 }],
    });
    expect(similar.status).toBe(201);
    const text = await p
      .api('post', `/features/${embedding.id}/test-cases`)
      .send({ name: 't', input, assertions: [{ type: 'contains', value: 'x' }] });
    expect(text.body.details).toEqual({ assertions: '#1 contains does not apply to an embedding feature' });
  });
});

describe('JSONL import and export', () => {
  const cases = [
    { ...greeting, critical: true, repeats: 3, pass_k: 2 },
    {
      name: 'Answers in JSON',
      input: {
        messages: [
          { role: 'system', content: 'Answer in JSON' },
          { role: 'user', content: 'Status?' },
        ],
      },
      assertions: [
        { type: 'json', required_keys: ['status'] },
        { type: 'regex', pattern: '^\\{', flags: 'i' },
        { type: 'not_contains', value: 'error' },
      ],
      critical: false,
      repeats: 1,
      pass_k: 1,
    },
    {
      name: 'Says ok',
      input: { messages: [{ role: 'user', content: 'Hi' }] },
      assertions: [
        { type: 'equals', value: 'ok' },
        { type: 'cost_max', usd: 0.01 },
      ],
      critical: false,
      repeats: 1,
      pass_k: 1,
    },
  ];
  const jsonl = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');

  it('when one feature’s export is imported into another, then it has the same cases in the same order', async () => {
    const { feature: a } = await p.feature();
    const { feature: b } = await p.feature();
    const imported = await p.api('post', `/features/${a.id}/test-cases`).type('application/x-ndjson').send(jsonl(cases));
    expect(imported.status, JSON.stringify(imported.body)).toBe(201);
    expect(imported.body.data).toEqual({ created: 3, replaced: 0 });
    const exported = await p.api('get', `/features/${a.id}/test-cases?format=jsonl`);
    expect(exported.type).toBe('application/jsonl');
    // One line per case, byte for byte the shape documented (the type first in each assertion).
    expect(exported.text).toBe(`${jsonl(cases)}\n`);
    // The console's export (the tab's link) is the same file.
    const fromPage = await p.admin.agent.get(`${PAGE}/${a.name}/test-cases?format=jsonl`).responseType('blob');
    expect(fromPage.status).toBe(200);
    expect(fromPage.headers['content-disposition']).toBe(`attachment; filename=${a.name}-test-cases.jsonl`);
    expect(String(fromPage.body)).toBe(exported.text);
    await p.api('post', `/features/${b.id}/test-cases`).type('application/jsonl').send(exported.text).expect(201);
    const again = await p.api('get', `/features/${b.id}/test-cases?format=jsonl`);
    expect(again.text).toBe(exported.text);
  });

  it('when lines are invalid, then 422 with every bad line’s number and why, and nothing is imported', async () => {
    const { feature } = await p.feature();
    const body = jsonl([
      cases[0],
      '{not json',
      '',
      { ...cases[1], assertions: [{ type: 'regex', pattern: '[' }] },
      { ...cases[2], name: 'greets BY name' },
    ]);
    const res = await p.api('post', `/features/${feature.id}/test-cases`).type('application/jsonl').send(body);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('Nothing was imported: 3 lines are not valid');
    expect(res.body.details.lines.map((l: { line: number }) => l.line)).toEqual([2, 4, 5]);
    expect(res.body.details.lines[1].message).toMatch(/^assertions #1 has a pattern that does not compile/);
    expect(res.body.details.lines[2].message).toBe('name “greets BY name” is already on line 1');
    expect(await casesOf(feature.id)).toEqual([]);
  });

  it('when OpenAI Evals samples ({input, ideal}) are imported, then each is a case: its messages, equals the ideal (or any of several)', async () => {
    const { feature } = await p.feature();
    const samples = [
      {
        input: [
          { role: 'system', content: 'Be terse' },
          { role: 'user', content: '2+2?' },
        ],
        ideal: '4',
      },
      { input: 'Capital of France?', ideal: ['Paris', 'Paris.'] },
      { input: '2+2?', ideal: '4' },
    ];
    const res = await p.api('post', `/features/${feature.id}/test-cases`).type('application/jsonl').send(jsonl(samples));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const rows = await casesOf(feature.id);
    expect(rows.map((r) => [r.name, r.input, r.assertions])).toEqual([
      ['2+2?', { messages: samples[0].input }, [{ type: 'equals', value: '4' }]],
      [
        'Capital of France?',
        { messages: [{ role: 'user', content: 'Capital of France?' }] },
        [{ type: 'regex', pattern: '^(?:Paris|Paris\\.)$' }],
      ],
      ['2+2? (line 3)', { messages: [{ role: 'user', content: '2+2?' }] }, [{ type: 'equals', value: '4' }]],
    ]);
  });

  it('when a name exists, then the import is refused unless replace, which overwrites that case in place', async () => {
    const { feature } = await p.feature();
    const { id } = (await p.api('post', `/features/${feature.id}/test-cases`).send(greeting)).body.data;
    const changed = { ...greeting, assertions: [{ type: 'contains', value: 'Ada' }] };
    const refused = await p
      .api('post', `/features/${feature.id}/test-cases`)
      .type('application/jsonl')
      .send(jsonl([cases[2], changed]));
    expect(refused.body.details.lines).toEqual([
      {
        line: 2,
        message: 'name “Greets by name” is already the name of another case of this feature (import with replace to overwrite it)',
      },
    ]);
    const replaced = await p
      .api('post', `/features/${feature.id}/test-cases?replace=true`)
      .type('application/jsonl')
      .send(jsonl([cases[2], changed]));
    expect(replaced.body.data).toEqual({ created: 1, replaced: 1 });
    const rows = await casesOf(feature.id);
    expect(rows.map((r) => [r.id === id, r.name, r.assertions])).toEqual([
      [true, 'Greets by name', [{ type: 'contains', value: 'Ada' }]],
      [false, 'Says ok', cases[2].assertions],
    ]);
  });
});

describe('the Testing tab’s cases', () => {
  const form = {
    name: 'Says ok',
    message: 'Say ok',
    assertions: 'contains ok\nnot contains sorry\nregex /^o/i\njson status, code\nlatency <= 2000\ncost <= 0.01',
    critical: 'on',
    repeats: '3',
    pass_k: '2',
  };

  it('when there is no case, then the empty state says what to do', async () => {
    const { feature } = await p.feature();
    const $ = await p.page(tabUrl(feature.name));
    expect(text($('#test-cases-empty'))).toBe(
      'No test cases yet. Add one below — an input and what its answer must meet — or import a JSONL file.',
    );
    expect($('#add-test-case').attr('open')).toBeDefined();
  });

  it('when a case is added without JavaScript, then 303 to the tab, which lists it in words', async () => {
    const { feature } = await p.feature();
    const res = await postForm(`${feature.name}/test-cases`, form);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(tabUrl(feature.name));
    const $ = await p.page(tabUrl(feature.name));
    expect(text($('.flash'))).toContain('Test case “Says ok” added.');
    const row = $('#test-cases-table tbody tr');
    expect(row).toHaveLength(1);
    expect(
      row
        .find('td')
        .map((_, td) => $(td).attr('data-label'))
        .get(),
    ).toEqual(['Input', 'Assertions', 'Critical', 'Passes when', 'Actions']);
    expect(text(row.find('th'))).toBe('Says ok');
    expect(text(row.find('[data-label="Input"]'))).toBe('user: “Say ok”');
    expect(
      row
        .find('[data-label="Assertions"] li')
        .map((_, li) => text($(li)))
        .get(),
    ).toEqual([
      'contains “ok”',
      'does not contain “sorry”',
      'matches /^o/i',
      'is a JSON object with status, code',
      'answers within 2,000 ms',
      'costs at most $0.01',
    ]);
    expect(text(row.find('[data-label="Critical"]'))).toBe('critical');
    expect(text(row.find('[data-label="Passes when"]'))).toBe('2 of 3');
    // The edit form is prefilled with the case, in the lines it was written in.
    const id = (await casesOf(feature.id))[0].id;
    expect($(`#case-${id}-assertions`).val()).toBe(form.assertions.replace('json status, code', 'json status, code'));
    expect($('#test-cases-table').hasClass('stacked')).toBe(true);
  });

  it('when the form is refused, then 422 with each error on its field and nothing written', async () => {
    const { feature } = await p.feature();
    const res = await postForm(`${feature.name}/test-cases`, { ...form, name: '', assertions: 'contains ok\nlooks nice', pass_k: '5' });
    expect(res.status).toBe(422);
    const $ = cheerio.load(res.text);
    expect(text($('#case-new-name-error'))).toBe('Name is required');
    expect(text($('#case-new-assertions-error'))).toMatch(/^Assertions line 2 does not start with an assertion/);
    expect(text($('#case-new-pass_k-error'))).toBe('Passes needed must be a whole number from 1 to the repeats (3)');
    expect($('#case-new-assertions').attr('aria-invalid')).toBe('true');
    expect($('#case-new-message').val()).toBe('Say ok');
    expect(await casesOf(feature.id)).toEqual([]);
  });

  it('when a case is edited, then it changes; when deleted, the form asks first and only the confirmation deletes', async () => {
    const { feature } = await p.feature();
    await postForm(`${feature.name}/test-cases`, form).expect(303);
    const [{ id }] = await casesOf(feature.id);
    await postForm(`${feature.name}/test-cases/${id}`, { ...form, name: 'Says ok, renamed', critical: '' }).expect(303);
    expect(await casesOf(feature.id)).toMatchObject([{ id, name: 'Says ok, renamed', critical: false }]);
    const ask = await postForm(`${feature.name}/test-cases/${id}/delete`, {});
    expect(ask.status).toBe(200);
    expect(text(cheerio.load(ask.text)('#confirmation-title'))).toBe('Delete the test case “Says ok, renamed”?');
    expect((await casesOf(feature.id))[0].deleted_at).toBeNull();
    await postForm(`${feature.name}/test-cases/${id}/delete`, { confirm: 'yes' }).expect(303);
    expect((await casesOf(feature.id))[0].deleted_at).not.toBeNull();
  });

  it('when htmx posts the form, then the tab comes back at once with the case', async () => {
    const { feature } = await p.feature();
    const res = await p.admin.agent
      .post(`${PAGE}/${feature.name}/test-cases`)
      .set(hx('feature-panel'))
      .type('form')
      .send({ _csrf: p.admin.csrf, ...form });
    expect(res.status).toBe(200);
    expect(res.headers['hx-push-url']).toBe(tabUrl(feature.name));
    expect(text(cheerio.load(res.text)('#test-cases-table th[scope="row"]'))).toBe('Says ok');
  });

  it('when a pasted import has bad lines, then 422 listing each by number, nothing imported', async () => {
    const { feature } = await p.feature();
    const jsonl = `${JSON.stringify(greeting)}\n{"name": "x"}\n[]`;
    const res = await postForm(`${feature.name}/test-cases/import`, { jsonl });
    expect(res.status).toBe(422);
    const $ = cheerio.load(res.text);
    expect(text($('#import-errors h2'))).toBe('Nothing was imported: 2 lines are not valid');
    expect(
      $('#import-errors li')
        .map((_, li) => text($(li)))
        .get(),
    ).toEqual([
      'Line 2: input needs messages (this feature has no prompt); assertions must list at least one assertion',
      'Line 3: body must be a JSON object: {name, input, assertions, critical, repeats, pass_k}',
    ]);
    expect($('#import-jsonl').val()).toBe(jsonl);
    expect(await casesOf(feature.id)).toEqual([]);
    await postForm(`${feature.name}/test-cases/import`, { jsonl: JSON.stringify(greeting) }).expect(303);
    expect(await casesOf(feature.id)).toHaveLength(1);
  });

  it('when the playground answers, then the add form is pre-filled with its input and an assertion on the answer', async () => {
    const { feature, model } = await p.feature();
    const res = await postForm(`${feature.name}/playground`, { target: `model:${model.id}`, prompt_version: '', message: 'Say ok' });
    expect(res.status).toBe(200);
    const $ = cheerio.load(res.text);
    expect(text($('#add-test-case summary'))).toBe('Add a test case — pre-filled with the playground’s input and answer');
    expect($('#add-test-case').attr('open')).toBeDefined();
    expect([$('#case-new-name').val(), $('#case-new-message').val(), $('#case-new-assertions').val()]).toEqual(['', 'Say ok', 'equals ok']);
    await postForm(`${feature.name}/test-cases`, { name: 'From the playground', message: 'Say ok', assertions: 'equals ok' }).expect(303);
    expect(await casesOf(feature.id)).toMatchObject([{ name: 'From the playground', assertions: [{ type: 'equals', value: 'ok' }] }]);
  });

  it('when a viewer looks, then the list is read-only; when a viewer posts, then 403 and nothing is written', async () => {
    const { feature } = await p.feature();
    await p.api('post', `/features/${feature.id}/test-cases`).send(greeting).expect(201);
    const $ = await p.page(tabUrl(feature.name), p.viewer);
    expect(text($('#test-cases-table th[scope="row"]'))).toBe('Greets by name');
    expect($('#test-cases form, #add-test-case, #import-test-cases')).toHaveLength(0);
    const [{ id }] = await casesOf(feature.id);
    expect((await postForm(`${feature.name}/test-cases`, { ...form, name: 'x' }, p.viewer)).status).toBe(403);
    expect((await postForm(`${feature.name}/test-cases/${id}/delete`, { confirm: 'yes' }, p.viewer)).status).toBe(403);
    expect(await casesOf(feature.id)).toMatchObject([{ id, deleted_at: null }]);
  });
});
