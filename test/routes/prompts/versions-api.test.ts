import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeToken } from '../../setup/factories.ts';
import { openPrompts, type Prompts } from './setup.ts';

// Prompt versions through the JSON API (SPEC §10.1): immutable, numbered, validated with a field
// message and nothing written on refusal; identical content returns the existing version.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const countOf = async (table: 'prompt_versions' | 'audit_log', featureId: string) =>
  table === 'prompt_versions'
    ? Number((await p.t.db('prompt_versions').where({ feature_id: featureId }).count<{ n: string }[]>({ n: '*' }))[0].n)
    : Number((await p.t.db('audit_log').where({ entity_id: featureId }).count<{ n: string }[]>({ n: '*' }))[0].n);

describe('POST /api/platform/ai-management/features/:id/prompts', () => {
  it('when a template is saved twice with changes, then versions 1 and 2 are made with their variables, parameters and author, audited', async () => {
    const { feature } = await p.feature();
    const v1 = await p.saved(feature.id, { template: 'Hello {{name}}', sample_values: { name: 'Ada' }, note: 'first' });
    const res = await p
      .api('post', `/features/${feature.name}/prompts`)
      .send({
        template: 'Hello {{ name }}, about {{topic}} and {{name}}',
        params: { temperature: 0.2, max_tokens: 50, stop: ['END'] },
        sample_values: { name: 'Ada', topic: 'engines' },
      })
      .expect(201);
    expect(v1).toMatchObject({ version: 1, variables: ['name'], notes: 'first', created_by: p.token.label });
    expect(res.body.data).toMatchObject({
      created: true,
      version: {
        version: 2,
        variables: ['name', 'topic'],
        params: { temperature: 0.2, max_tokens: 50, stop: ['END'] },
        content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    });
    const audit = await p.t.db('audit_log').where({ entity_id: feature.id, action: 'prompt_version.created' }).orderBy('id');
    expect(audit.map((a) => (a.after as { version: number }).version)).toEqual([1, 2]);
  });

  it('when identical content is saved again (another note), then it answers 200 with the existing version and writes nothing', async () => {
    const { feature } = await p.feature();
    const body = { template: 'Sum up {{text}}', params: { temperature: 1 }, sample_values: { text: 'a b c' } };
    const v1 = await p.saved(feature.id, body);
    const audits = await countOf('audit_log', feature.id);
    const res = await p
      .api('post', `/features/${feature.id}/prompts`)
      .send({ ...body, note: 'again', params: { temperature: 1 } })
      .expect(200);
    expect(res.body.data).toMatchObject({ created: false, version: { id: v1.id, version: 1 } });
    expect(await countOf('prompt_versions', feature.id)).toBe(1);
    expect(await countOf('audit_log', feature.id)).toBe(audits);
  });

  it.each([
    [{}, 'template', 'is required'],
    [{ template: 'x'.repeat(100_001) }, 'template', 'must be at most 100,000 characters (100 kB)'],
    [{ template: 'Hi {{ na me }}' }, 'template', 'has a “{{” on line 1 that is not a {{variable}} placeholder'],
    [{ template: 'Hi\n{{1st}}' }, 'template', 'has a “{{” on line 2 that is not a {{variable}} placeholder'],
    [{ template: 'Hi', params: { temperature: 3 } }, 'temperature', 'must be a number from 0 to 2'],
    [{ template: 'Hi', params: { max_tokens: 1.5 } }, 'max_tokens', 'must be a whole number from 1 to 1,000,000'],
    [{ template: 'Hi', params: { stop: ['a', 'b', 'c', 'd', 'e'] } }, 'stop', 'takes at most 4 sequences'],
    [{ template: 'Hi {{a}}', sample_values: { a: 'x', b: 'y' } }, 'sample_values', 'has values for variables the template does not use: b'],
    [{ template: 'Hi {{a}}', sample_values: { a: 3 } }, 'sample_values', 'must be text'],
    [{ template: 'Hi', note: 'n'.repeat(2001) }, 'note', 'must be at most 2000 characters'],
    [{ template: 'Hi', params: { top_p: 1 } }, 'top_p', 'is not a field that can be set'],
    [{ template: 'Hi', author: 'me' }, 'author', 'is not a field that can be set'],
  ])('when the body is %j, then 422 names %s and nothing is written', async (body, field, message) => {
    const { feature } = await p.feature();
    const res = await p.api('post', `/features/${feature.id}/prompts`).send(body).expect(422);
    expect(res.body).toMatchObject({ success: false, details: { [field]: message } });
    expect(await countOf('prompt_versions', feature.id)).toBe(0);
    expect(await countOf('audit_log', feature.id)).toBe(0);
  });

  it('when saves race, then each distinct content gets its own number and identical ones one version', async () => {
    const { feature } = await p.feature();
    const post = (template: string) => p.api('post', `/features/${feature.id}/prompts`).send({ template });
    const answers = await Promise.all([post('a'), post('b'), post('a'), post('c')]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 201, 201, 201]);
    const rows = await p.t.db('prompt_versions').where({ feature_id: feature.id }).orderBy('version');
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(rows.map((r) => r.template).sort()).toEqual(['a', 'b', 'c']);
  });

  it('when a template of exactly 100,000 characters is saved, then it is kept', async () => {
    const { feature } = await p.feature();
    const v = await p.saved(feature.id, { template: 'y'.repeat(100_000) });
    expect(v.version).toBe(1);
  });

  it('when a viewer or a read token writes, then 403 and nothing is written', async () => {
    const { feature } = await p.feature();
    await p.api('post', `/features/${feature.id}/prompts`, p.readToken).send({ template: 'Hi' }).expect(403);
    const viewer = await p.viewer.agent
      .post(`/api/platform/ai-management/features/${feature.id}/prompts`)
      .set('X-CSRF-Token', p.viewer.csrf)
      .send({ template: 'Hi' })
      .expect(403);
    expect(viewer.body.error).toBe('Only admins can make changes');
    expect(await countOf('prompt_versions', feature.id)).toBe(0);
  });
});

describe('GET /api/platform/ai-management/features/:id/prompts[/…]', () => {
  it('lists versions newest first, reads one by number, diffs two, and 404s an unknown one', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'line one\nline two', params: { temperature: 0.5 } });
    await p.saved(feature.id, { template: 'line one\nline 2\nline three', params: { temperature: 0.7, max_tokens: 9 } });
    const list = await p.api('get', `/features/${feature.id}/prompts`, p.readToken).expect(200);
    expect(list.body.data.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const one = await p.api('get', `/features/${feature.name}/prompts/1`, p.readToken).expect(200);
    expect(one.body.data).toMatchObject({ version: 1, template: 'line one\nline two' });
    await p.api('get', `/features/${feature.id}/prompts/9`, p.readToken).expect(404);
    const diff = await p.api('get', `/features/${feature.id}/prompts/diff?from=1&to=2`, p.readToken).expect(200);
    expect(diff.body.data.lines).toEqual([
      { kind: 'same', text: 'line one', from: 1, to: 1 },
      { kind: 'del', text: 'line two', from: 2 },
      { kind: 'ins', text: 'line 2', to: 2 },
      { kind: 'ins', text: 'line three', to: 3 },
    ]);
    expect(diff.body.data.params).toEqual([
      { key: 'max_tokens', to: '9', changed: true },
      { key: 'temperature', from: '0.5', to: '0.7', changed: true },
    ]);
    await p.api('get', `/features/${feature.id}/prompts/diff?from=1`, p.readToken).expect(400);
  });
});

describe('GET /api/v1/features/:name/prompts/:version (pinned)', () => {
  it('when any token asks for a version, then it answers that version with its content hash as ETag, and 304 on If-None-Match', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'Pinned {{x}}', sample_values: { x: '1' }, params: { max_tokens: 20 } });
    const ingest = (await makeToken(p.t.db, 'ingest')).token;
    const res = await request(p.t.app)
      .get(`/api/v1/features/${feature.name}/prompts/1`)
      .set('Authorization', `Bearer ${ingest}`)
      .expect(200);
    expect(res.body).toEqual({
      id: expect.any(String),
      version: 1,
      template: 'Pinned {{x}}',
      params: { max_tokens: 20 },
      variables: ['x'],
      content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(res.headers.etag).toBe(`"${res.body.content_hash}"`);
    await request(p.t.app)
      .get(`/api/v1/features/${feature.name}/prompts/1`)
      .set('Authorization', `Bearer ${ingest}`)
      .set('If-None-Match', res.headers.etag)
      .expect(304);
    await request(p.t.app).get(`/api/v1/features/${feature.name}/prompts/2`).set('Authorization', `Bearer ${ingest}`).expect(404);
    await request(p.t.app).get(`/api/v1/features/${feature.name}/prompts/1`).expect(401);
  });
});
