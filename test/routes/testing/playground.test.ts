import * as cheerio from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider } from '../../setup/factories.ts';
import { answerJson, fakeProvider, gate } from '../../setup/fake-provider.ts';
import { text } from '../../setup/html.ts';
import { openPrompts, PAGE, type Prompts } from '../prompts/setup.ts';

// The Testing tab's playground (issue 16): one call through the provider adapter — an environment's
// model and active prompt, or any compatible model — with its output, latency, tokens and cost,
// recorded in playground_calls with a test- event id and never as production usage.

let p: Prompts;
beforeAll(async () => {
  p = await openPrompts();
});
afterAll(() => p?.close());

const tabUrl = (feature: string) => `${PAGE}?${new URLSearchParams({ feature, tab: 'testing' })}`;

async function sendForm(slug: string, fields: Record<string, string>, as = p.admin) {
  return as.agent
    .post(`${PAGE}/${slug}/playground`)
    .type('form')
    .send({ _csrf: as.csrf, ...fields });
}

describe('POST /api/platform/ai-management/features/:id/playground', () => {
  it('when sent to an environment, then its model answers with the active prompt rendered, and the call is recorded apart from production usage', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'Hello {{name}}', sample_values: { name: 'Ada' } });
    await p.activated(feature.id, 1, 'production');
    const usageBefore = await p.t.db('ai_usage_logs').where({ feature_id: feature.id }).count<{ n: string }[]>({ n: '*' });
    const res = await p.api('post', `/features/${feature.id}/playground`).send({ environment: 'production', variables: { name: 'Grace' } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.data).toMatchObject({
      ok: true,
      error: null,
      output: 'ok',
      input: 'Hello Grace',
      prompt_version: 1,
      environment: 'production',
      model: { id: model.id },
      input_tokens: 8,
      output_tokens: 1,
      // 8 × $0.001/1k + 1 × $0.002/1k
      cost_usd: 0.00001,
      event_id: expect.stringMatching(/^test-[0-9a-f-]{36}$/),
    });
    const row = await p.t.db('playground_calls').where({ event_id: res.body.data.event_id }).first();
    expect(row).toMatchObject({ feature_id: feature.id, model_id: model.id, ok: true, input_tokens: 8, created_by: p.token.label });
    expect(await p.t.db('ai_usage_logs').where({ feature_id: feature.id }).count<{ n: string }[]>({ n: '*' })).toEqual(usageBefore);
    expect(await p.t.db('audit_log').where({ entity_id: feature.id, action: 'playground.call' }).first()).toBeDefined();
  });

  it('when a variable has no value and the version no sample, then 422 naming it, and nothing is recorded', async () => {
    const { feature } = await p.feature();
    await p.saved(feature.id, { template: 'Hi {{name}} from {{city}}', sample_values: { name: 'x' } });
    const res = await p.api('post', `/features/${feature.id}/playground`).send({ environment: 'staging', prompt_version: 1 });
    expect(res.status).toBe(422);
    expect(res.body.details).toEqual({ variables: 'no value for {{city}}' });
    expect(await p.t.db('playground_calls').where({ feature_id: feature.id })).toEqual([]);
  });

  it('when a model of another type, or neither target, is asked for, then 422 by field', async () => {
    const { feature } = await p.feature();
    const embedding = await makeModel(p.t.db, { model_type: 'embedding' });
    const wrong = await p
      .api('post', `/features/${feature.id}/playground`)
      .send({ model_id: embedding.id, messages: [{ role: 'user', content: 'x' }] });
    expect(wrong.status).toBe(422);
    expect(wrong.body.details.model_id).toMatch(/is not a llm model/);
    const none = await p
      .api('post', `/features/${feature.id}/playground`)
      .send({ messages: [{ role: 'user', content: 'x' }], colour: 'red' });
    expect(none.body.details).toEqual({ environment: 'choose an environment or a model', colour: 'is not a field of a playground call' });
  });

  it('when an embedding model is tried, then its dimensions and first values', async () => {
    const feature = await makeFeature(p.t.db, { required_model_type: 'embedding' });
    const model = await makeModel(p.t.db, { model_type: 'embedding' });
    const res = await p
      .api('post', `/features/${feature.id}/playground`)
      .send({ model_id: model.id, messages: [{ role: 'user', content: 'a text' }] });
    expect(res.body.data).toMatchObject({ ok: true, embedding: { dimensions: 3, first: [0.1, 0.2, 0.3] }, output: null });
  });

  it('when a read token asks, then 403 and nothing is sent', async () => {
    const { feature } = await p.feature();
    const res = await p
      .api('post', `/features/${feature.id}/playground`, p.readToken)
      .send({ environment: 'production', messages: [{ role: 'user', content: 'x' }] });
    expect(res.status).toBe(403);
    expect(await p.t.db('playground_calls').where({ feature_id: feature.id })).toEqual([]);
  });
});

describe('the Testing tab playground form (no JavaScript)', () => {
  it('when a message is sent to a model, then the tab shows the answer, latency, tokens, cost and the test event id', async () => {
    const { feature, model } = await p.feature();
    const res = await sendForm(feature.name, { target: `model:${model.id}`, prompt_version: '', message: 'Say ok' });
    expect(res.status).toBe(200);
    const $ = cheerio.load(res.text);
    expect(text($('#playground-output'))).toBe('ok');
    const facts = text($('#playground-facts'));
    expect(facts).toMatch(/Latency \d+ ms/);
    expect(facts).toContain('Tokens 8 in, 1 out');
    expect(facts).toContain('Cost $0.00001');
    expect(facts).toMatch(/Event id test-/);
    expect($('#playground-target').val()).toBe(`model:${model.id}`);
  });

  it('when no message and no prompt, then 422 with the error on the message field', async () => {
    const { feature } = await p.feature();
    const res = await sendForm(feature.name, { target: 'env:production', message: '' });
    expect(res.status).toBe(422);
    const $ = cheerio.load(res.text);
    expect(text($('#playground-message-error'))).toBe('Message write a message (or choose a prompt version)');
    expect($('#playground-message').attr('aria-invalid')).toBe('true');
  });

  it('when a viewer looks, then no form; when a viewer posts, then 403', async () => {
    const { feature } = await p.feature();
    const $ = await p.page(tabUrl(feature.name), p.viewer);
    expect($('#playground-form')).toHaveLength(0);
    expect(text($('#testing-tab'))).toContain('Only an admin can send test calls.');
    const res = await sendForm(feature.name, { target: 'env:production', message: 'x' }, p.viewer);
    expect(res.status).toBe(403);
  });

  it('offers each serving environment with its model and active prompt, then the compatible models', async () => {
    const { feature, model } = await p.feature();
    await p.saved(feature.id, { template: 'Hello', sample_values: {} });
    await p.activated(feature.id, 1, 'staging');
    const $ = await p.page(tabUrl(feature.name));
    const options = $('#playground-target option')
      .map((_, o) => text($(o)))
      .get();
    expect(options.slice(0, 3)).toEqual([
      `development: ${model.display_name}`,
      `staging: ${model.display_name}, prompt v1`,
      `production: ${model.display_name}`,
    ]);
    expect(options).toContain(model.display_name);
  });
});

describe('the playground against an OpenAI-compatible provider over real HTTP', () => {
  async function modelAt(url: string) {
    const provider = await makeProvider(p.t.db, { base_url: url, status: 'active', key: 'sk-test-0000' });
    const model = await makeModel(p.t.db, { provider_id: provider.id });
    const feature = await makeFeature(p.t.db);
    await makeAssignment(p.t.db, { feature_id: feature.id, model_id: model.id });
    return feature;
  }

  it("when it answers, then its text and token counts are shown, sent with the provider's key", async () => {
    const server = await fakeProvider(
      answerJson({
        choices: [{ message: { role: 'assistant', content: 'Bonjour' } }],
        usage: { prompt_tokens: 1000, completion_tokens: 500 },
      }),
    );
    try {
      const feature = await modelAt(server.url);
      const res = await sendForm(feature.name, { target: 'env:production', message: 'Say hello in French' });
      const $ = cheerio.load(res.text);
      expect(text($('#playground-output'))).toBe('Bonjour');
      expect(text($('#playground-facts'))).toContain('Tokens 1,000 in, 500 out');
      expect(text($('#playground-facts'))).toContain('Cost $0.002');
      expect(server.hits[0]).toMatchObject({ method: 'POST', url: '/v1/chat/completions', auth: 'Bearer sk-test-0000' });
    } finally {
      await server.close();
    }
  });

  it('when a prompt version and a message are sent, then the rendered prompt is the system message and its parameters go along', async () => {
    const bodies: unknown[] = [];
    const server = await fakeProvider((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        bodies.push(JSON.parse(raw));
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'fine' } }] }));
      });
    });
    try {
      const feature = await modelAt(server.url);
      await p.saved(feature.id, {
        template: 'You help {{who}}',
        sample_values: { who: 'Ada' },
        params: { temperature: 0.3, max_tokens: 50 },
      });
      const res = await sendForm(feature.name, { target: 'env:production', prompt_version: '1', variables: 'who=Grace', message: 'Hi' });
      expect(text(cheerio.load(res.text)('#playground-output'))).toBe('fine');
      expect(bodies[0]).toMatchObject({
        messages: [
          { role: 'system', content: 'You help Grace' },
          { role: 'user', content: 'Hi' },
        ],
        temperature: 0.3,
        max_tokens: 50,
      });
    } finally {
      await server.close();
    }
  });

  it('when it answers with an error, then the page says so plainly and the failed call is recorded', async () => {
    const server = await fakeProvider(answerJson({ error: { message: 'boom' } }, { status: 500 }));
    try {
      const feature = await modelAt(server.url);
      const res = await sendForm(feature.name, { target: 'env:production', message: 'x' });
      expect(res.status).toBe(200);
      const $ = cheerio.load(res.text);
      expect(text($('#playground-result-heading'))).toMatch(/^The call failed/);
      expect(text($('#playground-error'))).toBe('the provider answered 500');
      expect(await p.t.db('playground_calls').where({ feature_id: feature.id }).first()).toMatchObject({
        ok: false,
        error: 'the provider answered 500',
      });
    } finally {
      await server.close();
    }
  });

  it('when it does not answer within the provider timeout, then the page says so', async () => {
    const t = startTestApp({ providerTimeoutMs: 200 });
    const held = gate();
    const server = await fakeProvider(answerJson({}, { after: held.opened }));
    const q = await openPrompts(t);
    try {
      const provider = await makeProvider(t.db, { base_url: server.url, status: 'active' });
      const model = await makeModel(t.db, { provider_id: provider.id });
      const feature = await makeFeature(t.db);
      await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id });
      const res = await q.admin.agent
        .post(`${PAGE}/${feature.name}/playground`)
        .type('form')
        .send({ _csrf: q.admin.csrf, target: 'env:production', message: 'x' });
      expect(text(cheerio.load(res.text)('#playground-error'))).toBe('no answer within 200 ms');
    } finally {
      held.open();
      await server.close();
      await q.close();
    }
  });
});
