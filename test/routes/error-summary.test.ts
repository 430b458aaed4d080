import { type CheerioAPI, load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeModel, makeProvider } from '../setup/factories.ts';
import { text } from '../setup/html.ts';
import { signInAs } from '../setup/session.ts';

// Issue 13 item 10: a refused form (422 after a full reload) starts with one error summary: an alert
// headed "There is a problem", a link to each field in error, focused on load (autofocus) and placed
// before the form's fields, so the admin sees it wherever the form sits on the page.

let t: TestContext;
let admin: Awaited<ReturnType<typeof signInAs>>;
beforeAll(async () => {
  t = startTestApp();
  admin = await signInAs(t, 'admin');
});
afterAll(() => t.close());

const BASE = '/platform/ai-management';

/** The summary, checked whole: its links (text and target) in order; each target is a field of the same form, after the summary. */
function summaryOf($: CheerioAPI) {
  const summary = $('[data-error-summary]');
  expect(summary).toHaveLength(1);
  expect(summary.attr('role')).toBe('alert');
  expect(summary.attr('tabindex')).toBe('-1');
  expect(summary.attr('autofocus')).toBeDefined();
  expect(text(summary.find('h2'))).toBe('There is a problem');
  const form = summary.closest('form');
  expect(form).toHaveLength(1);
  const links = summary
    .find('a')
    .toArray()
    .map((a) => [$(a).attr('href')!, text($(a))]);
  for (const [href] of links) {
    const field = form.find(href);
    expect(field, href).toHaveLength(1);
    expect(['input', 'select', 'textarea']).toContain(field.prop('tagName')!.toLowerCase());
    expect(field.attr('aria-invalid'), href).toBe('true');
  }
  // No field of the form comes before the summary.
  expect(form.children().first().next().is('[data-error-summary]') || form.children().first().is('[data-error-summary]')).toBe(true);
  return links;
}

const post = (path: string, body: Record<string, string>) =>
  admin.agent
    .post(path)
    .type('form')
    .send({ _csrf: admin.csrf, ...body });

describe('the error summary of every form', () => {
  it('when "Add a model" is refused, then the summary links to the model id, display name and provider fields', async () => {
    const res = await post(`${BASE}/models`, { provider: 'simulator', name: '', display_name: '' }).expect(422);
    const links = summaryOf(load(res.text));
    expect(links).toContainEqual(['#model-name', expect.stringMatching(/^Model id /)]);
    expect(links).toContainEqual(['#model-display_name', expect.stringMatching(/^Display name /)]);
  });

  it('when "Add a provider" is refused, then the summary links to its fields', async () => {
    const res = await post(`${BASE}/providers`, { name: 'Not A Slug', display_name: '' }).expect(422);
    const links = summaryOf(load(res.text));
    expect(links).toContainEqual(['#provider-name', expect.stringMatching(/^Slug /)]);
  });

  it('when "Edit provider" is refused, then the summary links to the display name', async () => {
    const p = await makeProvider(t.db);
    const res = await post(`${BASE}/providers/${p.name}`, { display_name: '' }).expect(422);
    expect(summaryOf(load(res.text))).toContainEqual(['#edit-display_name', expect.stringMatching(/^Display name /)]);
  });

  it('when "Configure" (edit model) is refused, then the summary links to the price field', async () => {
    const m = await makeModel(t.db);
    const res = await post(`${BASE}/models/${m.id}/edit`, {
      display_name: m.display_name,
      status: 'available',
      input_price_per_1k: '-1',
      output_price_per_1k: '0',
    }).expect(422);
    expect(summaryOf(load(res.text))).toContainEqual(['#model-input_price_per_1k', expect.stringMatching(/^Input price /)]);
  });

  it('when "Add a feature" is refused, then the summary links to the slug', async () => {
    const res = await post(`${BASE}/features`, { name: '', display_name: '' }).expect(422);
    expect(summaryOf(load(res.text))).toContainEqual(['#name', expect.stringMatching(/^Slug /)]);
  });

  it('when "Create a key" is refused, then the summary links to the name', async () => {
    const res = await post(`${BASE}/api-keys`, { name: '', scope: 'read' }).expect(422);
    expect(summaryOf(load(res.text))).toEqual([['#name', expect.stringMatching(/^Name /)]]);
  });

  it('when "Deploy" on a model\'s page is posted without a feature, then the summary links to the feature field', async () => {
    const m = await makeModel(t.db);
    const res = await post(`${BASE}/models/${m.id}/deploy`, { environment: 'staging' }).expect(422);
    expect(summaryOf(load(res.text))).toEqual([['#deploy-feature', 'Feature is required: choose the feature to deploy to']]);
  });

  it('when a form is shown without errors, then there is no summary', async () => {
    const res = await admin.agent.get(`${BASE}/api-keys`).expect(200);
    expect(load(res.text)('[data-error-summary]')).toHaveLength(0);
  });
});
