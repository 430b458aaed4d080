import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toCsv } from '../../src/pages/csv.ts';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeUser, suffix } from '../setup/factories.ts';
import { type Agent, signIn } from '../setup/session.ts';

/** RFC 4180 as the exports write it: quoted cells may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      row.push(cell);
      cell = '';
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else {
      cell += c;
    }
  }
  return rows;
}

const NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;
/** Cells a spreadsheet would run as a formula: starting with = + - @, a tab or a CR, and not a plain number. */
const liveFormulas = (csv: string) =>
  parseCsv(csv)
    .flat()
    .filter((cell) => /^[=+\-@\t\r]/.test(cell) && !NUMBER.test(cell));

describe('toCsv', () => {
  it('when a text cell starts with = + - @, a tab or a CR, then it is prefixed with a quote and quoted; numbers stay as they are', () => {
    const csv = toCsv(['=h'], [['=HYPERLINK("http://x")', '-2+3', '+1', '@SUM(A1)', '\tcmd', '\rcmd', 'plain', -2, -0.5, 3, null, '']]);
    expect(csv).toBe(`"'=h"\r\n"'=HYPERLINK(""http://x"")","'-2+3","'+1","'@SUM(A1)","'\tcmd","'\rcmd",plain,-2,-0.5,3,,\r\n`);
    expect(liveFormulas(csv)).toEqual([]);
  });

  it('when a text cell holds a formula character further in, then it is left as it is', () => {
    expect(toCsv(['a'], [['a=b', 'x-1', 'user@example.test']])).toBe('a\r\na=b,x-1,user@example.test\r\n');
  });
});

describe('every CSV export', () => {
  let t: TestContext;
  let agent: Agent;
  const formula = '=HYPERLINK("http://x")';
  const ids = { provider: '', providerName: '', model: '', model2: '', feature: '' };

  beforeAll(async () => {
    t = startTestApp();
    const user = await makeUser(t.db, 'viewer');
    agent = await signIn(t.app, user.email, user.password);
    ids.providerName = `csv-${suffix()}`;
    const [provider] = await t
      .db('ai_providers')
      .insert({
        name: ids.providerName,
        display_name: formula,
        kind: 'openai-compatible',
        base_url: 'https://llm.example.test/v1',
        status: 'inactive',
      })
      .returning('id');
    ids.provider = provider.id;
    const model = (name: string, display_name: string) =>
      t
        .db('ai_models')
        .insert({
          provider_id: ids.provider,
          name,
          display_name,
          model_type: 'llm',
          status: 'available',
          input_price_per_1k: 0.001,
          output_price_per_1k: 0.002,
        })
        .returning('id');
    ids.model = (await model(`+model-${suffix()}`, '-2+3'))[0].id;
    ids.model2 = (await model(`@model-${suffix()}`, '@SUM(1+1)'))[0].id;
    const [feature] = await t
      .db('ai_features')
      .insert({ name: `csv-${suffix()}`, display_name: '=1+1', required_model_type: 'llm' })
      .returning(['id', 'name']);
    ids.feature = feature.name;
    await t.db('deployments').insert({
      feature_id: feature.id,
      model_id: ids.model,
      environment: 'staging',
      kind: 'assign',
      status: 'failed',
      requested_by: "=cmd|' /C calc'!A0",
      finished_at: t.db.fn.now(),
      error: '-1+1 smoke request failed',
    });
  });
  afterAll(() => t.close());

  const routes = () => [
    `/platform/ai-management/models?tab=providers&format=csv&q=${ids.providerName}`,
    `/platform/ai-management/models?tab=models&format=csv&provider=${ids.providerName}`,
    '/platform/ai-management/models?tab=deployments&format=csv',
    `/platform/ai-management/providers/${ids.providerName}?format=csv`,
    `/platform/ai-management/models/${ids.model}?format=csv`,
    `/platform/ai-management/models/compare?ids=${ids.model},${ids.model2}&format=csv`,
    `/platform/ai-management/features?feature=${ids.feature}&format=csv`,
  ];

  it('when names start with formula characters, then no export holds a live formula', async () => {
    for (const path of routes()) {
      const res = await agent.get(path).expect(200);
      expect(res.headers['content-type'], path).toMatch(/^text\/csv/);
      expect(liveFormulas(res.text), path).toEqual([]);
    }
  });

  it('when the catalogue tabs export those names, then they read back as text with a leading quote', async () => {
    const cells = async (tab: string, filter: string) =>
      parseCsv((await agent.get(`/platform/ai-management/models?tab=${tab}&format=csv&${filter}`).expect(200)).text).flat();
    expect(await cells('providers', `q=${ids.providerName}`)).toContain(`'${formula}`);
    const models = await cells('models', `provider=${ids.providerName}`);
    expect(models).toEqual(expect.arrayContaining(["'-2+3", "'@SUM(1+1)"]));
    expect(models.some((c) => c.startsWith("'+model-"))).toBe(true);
    const deployments = await cells('deployments', '');
    expect(deployments).toEqual(expect.arrayContaining(["'=cmd|' /C calc'!A0", "'-1+1 smoke request failed"]));
  });
});
