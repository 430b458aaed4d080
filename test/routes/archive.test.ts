import { load } from 'cheerio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestContext } from '../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeProvider } from '../setup/factories.ts';
import { text } from '../setup/html.ts';
import { ownSeededDatabase } from '../setup/scratch-db.ts';
import { signInAs } from '../setup/session.ts';

// Archiving providers, models and features: refused while they serve (422 naming where, nothing
// written), otherwise stored and audited; archived items leave the pickers and default lists, their
// history stays (pages, deployments, audit, the catalogue's "show archived").

const CATALOGUE = '/platform/ai-management/models';
const PROVIDERS = '/platform/ai-management/providers';
const FEATURES = '/platform/ai-management/features';

// A database of the file's own: what it archives stays out of other files' whole-table lists.
let own: Awaited<ReturnType<typeof ownSeededDatabase>>;
let t: TestContext;
let admin: Awaited<ReturnType<typeof signInAs>>;
let viewer: Awaited<ReturnType<typeof signInAs>>;
beforeAll(async () => {
  own = await ownSeededDatabase('archive');
  t = startTestApp({ databaseUrl: own.url }, own.db);
  admin = await signInAs(t, 'admin');
  viewer = await signInAs(t, 'viewer');
});
afterAll(async () => {
  await t?.close();
  await own?.drop();
});

const post = (path: string, as = admin) => as.agent.post(path).type('form').send({ _csrf: as.csrf });
const page = async (path: string) => load((await admin.agent.get(path).expect(200)).text);
const archivedAt = async (table: 'ai_providers' | 'ai_models' | 'ai_features', id: string) =>
  (await t.db(table).where({ id }).first('archived_at'))!.archived_at;
const auditOf = (id: string) => t.db('audit_log').where({ entity_id: id }).orderBy('id').pluck('action');

/** A feature served in production by a model of a provider of its own. */
async function serving() {
  const provider = await makeProvider(t.db, { status: 'active', kind: 'simulator', base_url: null });
  const model = await makeModel(t.db, { provider_id: provider.id });
  const feature = await makeFeature(t.db);
  await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, environment: 'production' });
  return { provider, model, feature, where: `${feature.display_name} in production (${model.display_name})` };
}

describe('POST …/archive while serving', () => {
  it('when the provider, the model or the feature serves an active assignment, then 422 names where, beside the form, and nothing is written', async () => {
    const { provider, model, feature, where } = await serving();
    const cases = [
      { path: `${PROVIDERS}/${provider.name}/archive`, table: 'ai_providers' as const, id: provider.id, name: provider.display_name },
      { path: `${CATALOGUE}/${model.id}/archive`, table: 'ai_models' as const, id: model.id, name: model.display_name },
      { path: `${FEATURES}/${feature.name}/archive`, table: 'ai_features' as const, id: feature.id, name: feature.display_name },
    ];
    for (const c of cases) {
      const res = await post(c.path).expect(422);
      expect(text(load(res.text)('#archive-error[role="alert"]')), c.path).toBe(
        `${c.name} cannot be archived while it serves ${where}: move those first.`,
      );
      expect(await archivedAt(c.table, c.id), c.path).toBeNull();
      expect(await auditOf(c.id), c.path).toEqual([]);
    }
  });

  it('when a viewer or a post without CSRF asks, then 403 and nothing is written', async () => {
    const provider = await makeProvider(t.db);
    await post(`${PROVIDERS}/${provider.name}/archive`, viewer).expect(403);
    await admin.agent.post(`${PROVIDERS}/${provider.name}/archive`).type('form').send({}).expect(403);
    expect(await archivedAt('ai_providers', provider.id)).toBeNull();
  });
});

describe('Archived providers, models and features', () => {
  it('when a provider is archived, then it is audited, hidden from the providers tab and the add-model picker, listed under "show archived", and can come back', async () => {
    const provider = await makeProvider(t.db);
    const res = await post(`${PROVIDERS}/${provider.name}/archive`).expect(303);
    expect(res.headers.location).toBe(`${PROVIDERS}/${provider.name}`);
    expect(await archivedAt('ai_providers', provider.id)).not.toBeNull();
    expect(await auditOf(provider.id)).toEqual(['provider.archived']);
    let $ = await page(res.headers.location);
    expect(text($('.flash-success'))).toBe(`${provider.display_name} is archived: hidden from pickers, its history kept.`);
    expect(text($('#archive [data-archived]'))).toMatch(/^Archived .+ by admin-.+: hidden from pickers, its history kept\.$/);
    expect(text($('#archive button'))).toBe(`Unarchive ${provider.display_name}`);

    $ = await page(CATALOGUE);
    expect($(`li.provider-card[data-provider="${provider.name}"]`)).toHaveLength(0);
    $ = await page(`${CATALOGUE}?archived=yes`);
    expect(text($(`li.provider-card[data-provider="${provider.name}"] [data-archived]`))).toBe('archived');
    $ = await page(`${CATALOGUE}?tab=models`);
    expect($(`#add-model select[name="provider"] option[value="${provider.name}"]`)).toHaveLength(0);
    expect($('#add-model select[name="provider"] option[value="simulator"]')).toHaveLength(1);

    await post(`${PROVIDERS}/${provider.name}/unarchive`).expect(303);
    expect(await archivedAt('ai_providers', provider.id)).toBeNull();
    expect(await auditOf(provider.id)).toEqual(['provider.archived', 'provider.unarchived']);
    expect((await page(CATALOGUE))(`li.provider-card[data-provider="${provider.name}"]`)).toHaveLength(1);
  });

  it('when a model that served is archived, then the Models tab and the deploy page no longer offer it, and its page and deployments still show its history', async () => {
    const feature = await makeFeature(t.db);
    const [old, current] = [await makeModel(t.db), await makeModel(t.db)];
    const earlier = await makeAssignment(t.db, { feature_id: feature.id, model_id: old.id, environment: 'staging', is_active: false });
    await makeAssignment(t.db, { feature_id: feature.id, model_id: current.id, environment: 'staging' });
    await t.db('deployments').insert({
      feature_id: feature.id,
      model_id: old.id,
      environment: 'staging',
      kind: 'assign',
      requested_by: 'test',
      status: 'success',
      assignment_id: earlier.id,
      finished_at: new Date(),
    });
    await post(`${CATALOGUE}/${old.id}/archive`).expect(303);
    expect(await auditOf(old.id)).toEqual(['model.archived']);

    const tab = await page(`${FEATURES}?feature=${feature.name}&tab=models&environment=staging`);
    expect(tab(`#candidates tr[data-model="${old.name}"]`)).toHaveLength(0);
    expect(tab(`#candidates tr[data-model="${current.name}"]`)).toHaveLength(1);
    // The history keeps the row; rolling back to it is not offered.
    const row = tab(`tr[data-assignment="${earlier.id}"]`);
    expect(text(row.find('td').first())).toBe(old.display_name);
    expect(row.find('form')).toHaveLength(0);
    expect(text(row.find('[data-blocked]'))).toBe(`${old.display_name} is archived: unarchive it first`);

    expect((await page(`${CATALOGUE}/compare`))(`#compare-picker input[value="${old.id}"]`)).toHaveLength(0);
    expect(
      (await page(`${CATALOGUE}/compare?ids=${old.id},${current.id}`))(`#compare-picker input[value="${old.id}"]:checked`),
    ).toHaveLength(1);
    const deploy = await page(`${CATALOGUE}/${old.id}/deploy`);
    expect(deploy('#deploy-feature option')).toHaveLength(0);
    expect((await page(`${CATALOGUE}?tab=models`))(`li.model-card[data-model="${old.name}"]`)).toHaveLength(0);
    expect(text((await page(`${CATALOGUE}?tab=models&archived=yes`))(`li.model-card[data-model="${old.name}"] [data-archived]`))).toBe(
      'archived',
    );
    const deployments = await page(`${CATALOGUE}?tab=deployments&model=${old.id}`);
    expect(text(deployments('#deployment-results'))).toContain(old.display_name);

    // A hand-made request is refused by the pipeline's own model check: nothing switches.
    const forced = await admin.agent
      .post(`${FEATURES}/${feature.name}/rollback`)
      .type('form')
      .send({ _csrf: admin.csrf, assignment_id: earlier.id, confirm: 'yes' })
      .expect(422);
    expect(text(load(forced.text)('.refusal'))).toContain(`${old.display_name} is archived: unarchive it first`);
    const serving = await t
      .db('feature_model_assignments')
      .where({ feature_id: feature.id, environment: 'staging', is_active: true })
      .first();
    expect(serving?.model_id).toBe(current.id);
  });

  it('when a feature that has no model serving is archived, then the cards and the overview leave it out, and its page still shows its history', async () => {
    const feature = await makeFeature(t.db);
    const model = await makeModel(t.db);
    await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, environment: 'staging', is_active: false });
    const res = await post(`${FEATURES}/${feature.name}/archive`).expect(303);
    expect(res.headers.location).toBe(`${FEATURES}?feature=${feature.name}&tab=settings`);
    expect(await auditOf(feature.id)).toEqual(['feature.archived']);

    // Searched for by its name, it is not found; the overview's CSV (every feature's row) leaves it out too.
    const features = await page(`${FEATURES}?q=${feature.name}`);
    expect(features(`a.feature-card[data-feature="${feature.name}"]`)).toHaveLength(0);
    expect(text(features('#feature-count'))).toBe(`No feature matches “${feature.name}”. Show every feature`);
    const csv = await admin.agent.get('/platform/ai-management?format=csv').expect(200);
    expect(csv.text.split('\r\n').some((line) => line.startsWith(`${feature.name},`))).toBe(false);
    const settings = await page(res.headers.location);
    expect(text(settings('#feature-title'))).toContain(feature.display_name);
    expect(text(settings('#archive button'))).toBe(`Unarchive ${feature.display_name}`);
    const history = await page(`${FEATURES}?feature=${feature.name}&tab=models&environment=staging`);
    expect(text(history('#assignment-history tbody tr td').first())).toBe(model.display_name);
  });
});
