import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { activeAssignments } from '../db/queries/assignments.ts';
import { type FeatureRow, findAssignment, findFeature, withAssignments } from '../db/queries/features.ts';
import { activePrompt } from '../db/queries/prompts.ts';
import { type DeploymentKind, ENVIRONMENTS, type Environment } from '../domain.ts';
import { HttpError, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { linkKeeping, parseQuery } from '../http/query.ts';
import { url, withQuery } from '../http/urls.ts';
import { hasEventsSince } from '../metrics/queries.ts';
import { requireWrite } from '../middleware/auth.ts';
import { type Confirmation, deployConfirmation, deployNeedsConfirmation, isConfirmed } from '../pages/confirmations.ts';
import { overviewCsv } from '../pages/feature-charts.ts';
import { NEXT_ENVIRONMENT } from '../pages/feature-models-tab.ts';
import { promptHistoryCsv } from '../pages/feature-prompts-tab.ts';
import {
  environmentFilter,
  FEATURE_TARGETS,
  type FeaturesQuery,
  featureOverview,
  featuresPageParts,
  featuresQuerySchema,
  figuresEnvironmentOf,
  selectedFeature,
} from '../pages/features.ts';
import type { TestCasesShown } from '../pages/test-cases.ts';
import {
  type ActivationOutcome,
  activateOrRequest,
  type ChangeOutcome,
  deployOrRequest,
  requestedMessage,
} from '../services/change-requests.ts';
import { type SettingsOutcome, updateFeatureSettings } from '../services/feature-settings.ts';
import { FIELD_LABELS } from '../services/feature-settings-input.ts';
import { createFeature } from '../services/features.ts';
import { fieldsFromForm, type PromptPreview, previewPromptVersion, type Saved, savePromptVersion } from '../services/prompt-versions.ts';
import { type FormState, render, targetId } from '../views.ts';
import { type ArchiveTarget, archiving } from './archive.ts';
import { loader, type RouteDeps } from './deps.ts';
import { testCaseRoutes } from './test-cases.ts';
import { cancelTestRun, compareRuns, showTestRun, startTestRun, type TestRunFormShown } from './test-runs.ts';
import { type PlaygroundShown, playground } from './testing.ts';

// One URL, four swap targets (see featuresPageParts for what each needs).
const VIEW = {
  page: 'pages/features',
  partial: 'partials/features/feature-workspace',
  targets: Object.fromEntries(FEATURE_TARGETS.map((id) => [id, `partials/features/${id}`])),
};

/** The features page (SPEC §5) and the Models tab's forms, mounted at /platform/ai-management/features. */
export function featureRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.param(
    'slug',
    loader('feature', 'Feature', (slug) => findFeature(deps.db, slug)),
  );
  router.get('/', (req, res) => show(deps, req, res, req.query));
  router.get('/:slug/live', (req, res) => liveCheck(deps, req, res));
  router.post('/', requireWrite, (req, res) => addFeature(deps, req, res));
  router.post('/:slug/models', requireWrite, (req, res) => changeModel(deps, req, res));
  router.post('/:slug/promote', requireWrite, (req, res) => promote(deps, req, res));
  router.post('/:slug/rollback', requireWrite, (req, res) => rollback(deps, req, res));
  // Archiving (issue 13): the form is on the Settings tab; a refusal shows that tab again.
  const archiveRefused = (req: Request, res: Response, archiveError: string) =>
    show(deps, req, res, { feature: featureIn(res).name, tab: 'settings' }, { archiveError }, 422);
  router.post('/:slug/archive', requireWrite, archiving(deps.db, true, featureTarget, archiveRefused));
  router.post('/:slug/unarchive', requireWrite, archiving(deps.db, false, featureTarget, archiveRefused));
  router.post('/:slug/settings', requireWrite, (req, res) => saveSettings(deps, req, res));
  router.get('/:slug/prompts', (req, res) => promptHistory(deps, req, res));
  router.post('/:slug/prompts', requireWrite, (req, res) => savePrompt(deps, req, res));
  router.post('/:slug/prompts/promote', requireWrite, (req, res) => promotePrompt(deps, req, res));
  router.post('/:slug/prompts/:version/activate', requireWrite, (req, res) => activatePromptVersion(deps, req, res));
  router.post('/:slug/playground', requireWrite, (req, res) => playground(deps, req, res, show));
  testCaseRoutes(router, deps, show, changed);
  router.post('/:slug/test-runs', requireWrite, (req, res) => startTestRun(deps, req, res, show));
  router.get('/:slug/test-runs/compare', (req, res) => compareRuns(deps, req, res));
  router.get('/:slug/test-runs/:runId', (req, res) => showTestRun(deps, req, res));
  router.post('/:slug/test-runs/:runId/cancel', requireWrite, (req, res) => cancelTestRun(deps, req, res));
  return router;
}

/** A new feature opens as a feature is first shown: the overview of the last 24 hours. */
const firstLook = (slug: string) => url.features({ feature: slug });

/** Links that keep the page's state (range and environment across tabs, the cards' search and page) and change one part of it. */
function linker(q: FeaturesQuery, feature?: string) {
  return linkKeeping<Partial<FeaturesQuery>>(url.features(), {
    feature,
    tab: q.tab,
    range: q.range,
    environment: q.environment,
    q: q.q || undefined,
    page: q.page,
    split: q.split,
  });
}

/** The live check of the overview as of an event id (see liveCheck). */
const liveLinker = (slug: string, q: FeaturesQuery) => (since: number) =>
  withQuery(url.featureAction(slug, 'live'), { since, environment: q.environment });

interface Extra {
  form?: FormState;
  /** A refused deployment, shown on the Models tab with its checks. */
  deployment?: Record<string, unknown>;
  /** Why archiving the feature was refused, shown beside its form. */
  archiveError?: string;
  /** The Settings tab's forms shown again: refused values with their errors, or a change waiting for its confirmation. */
  settingsForm?: { form?: FormState; confirmation?: Record<string, unknown> };
  /** The Prompts tab's new-version form, refused or previewed. */
  promptForm?: FormState & { preview?: PromptPreview };
  /** A deployment waiting for the admin's confirmation (production, rollbacks). */
  confirmation?: Confirmation;
  /** The model the admin chose, kept checked after a refusal. */
  chosen?: unknown;
  /** The Testing tab's playground: its form again, and the call's result when one was sent. */
  playground?: PlaygroundShown;
  /** The Testing tab's test-case forms shown again (refused, or a delete to confirm). */
  testCases?: TestCasesShown;
  /** The Testing tab's run form: refused values, or the estimate asked for. */
  testRun?: TestRunFormShown;
}

const featureTarget = (res: Response): ArchiveTarget => {
  const f = featureIn(res);
  return { kind: 'feature', id: f.id, display_name: f.display_name, page: url.features({ feature: f.name, tab: 'settings' }) };
};

async function show(deps: RouteDeps, req: Request, res: Response, query: unknown, extra: Extra = {}, status = 200) {
  const { db, timeZone } = deps;
  const q = parseQuery(featuresQuerySchema, query);
  const now = new Date();
  const feature = await selectedFeature(db, q.feature);
  if (q.format === 'csv') {
    if (!feature) throw new HttpError(404, 'There is no feature to export');
    const environment = figuresEnvironmentOf(q);
    const { metrics } = await featureOverview(db, feature, { range: q.range, environment, split: q.split }, now, timeZone);
    const name = `${feature.name}-${environment}-${q.range}${q.split ? `-by-${q.split}` : ''}.csv`;
    return void res.type('text/csv').attachment(name).send(overviewCsv(metrics));
  }
  const part = req.htmx.request ? targetId(req) : undefined;
  const parts = await featuresPageParts(db, { feature, q, part, now, timeZone });
  const title = feature ? `${feature.display_name} · Features` : 'Features';
  const form = extra.form ?? { values: {}, errors: {} };
  // A card opens its feature on the tab, range and environment being looked at.
  const links = {
    link: linker(q, feature?.name),
    cardLink: (slug: string) => linker(q, slug)(),
    liveLink: feature && liveLinker(feature.name, q),
  };
  render(
    req,
    res,
    VIEW,
    {
      title,
      q,
      feature,
      ...parts,
      form,
      deployment: extra.deployment,
      archiveError: extra.archiveError,
      settingsForm: extra.settingsForm ?? {},
      promptForm: extra.promptForm,
      confirmation: extra.confirmation,
      confirmationTarget: '#feature-panel',
      confirmationLevel: 3,
      chosenModel: extra.chosen,
      playground: extra.playground,
      testCases: extra.testCases ?? {},
      testRun: extra.testRun,
      generatedAt: now,
      ...links,
      charts: parts.overview !== undefined,
    },
    status,
  );
}

const liveQuerySchema = z.object({
  since: z.coerce.number().int('must be a whole number').min(0, 'must be 0 or more'),
  environment: featuresQuerySchema.shape.environment,
});

/**
 * The live check the open overview polls every few seconds (public/js/live.js): 204 and no body while
 * the feature has no event in the environment past `since`, else 200 and the page refreshes its
 * overview (which carries the next `since`). Figures include rows not rolled up yet, so no rollup has
 * to run first.
 */
async function liveCheck(deps: RouteDeps, req: Request, res: Response) {
  const q = parseQuery(liveQuerySchema, req.query);
  if (!(await hasEventsSince(deps.db, featureIn(res).id, environmentFilter(figuresEnvironmentOf(q)), q.since)))
    return void res.status(204).end();
  res.json({ changed: true });
}

async function addFeature(deps: RouteDeps, req: Request, res: Response) {
  try {
    const feature = await createFeature(deps.db, req.principal!, req.body ?? {});
    flash(req, 'success', `Feature “${feature.display_name}” added. Assign it a model in each environment from its Models tab.`);
    res.redirect(303, firstLook(feature.name));
  } catch (err) {
    const refusal = refusalOf(err);
    await show(deps, req, res, {}, { form: { values: req.body ?? {}, errors: refusal.fields } }, refusal.status);
  }
}

/** After a change from a tab's form: a form gets a 303 to the tab, htmx the tab at once with its URL. */
async function changed(deps: RouteDeps, req: Request, res: Response, tab: Partial<FeaturesQuery>) {
  if (!req.htmx.request) return res.redirect(303, url.features(tab));
  res.set('HX-Push-Url', url.features(tab));
  await show(deps, req, res, tab);
}

// The Models tab's forms: a change, a promotion, a rollback — each through the deployment pipeline.
// Success → 303 to the tab with a flash; a refusal → 422 (409 after a lost race) with its reasons
// inline, in the tab (so an htmx swap of the panel keeps the tab whole).

const modelsTabOf = (slug: string, environment?: Environment) => ({ feature: slug, tab: 'models' as const, environment });
const isEnvironment = (v: unknown): v is Environment => typeof v === 'string' && (ENVIRONMENTS as readonly string[]).includes(v);
const featureIn = (res: Response) => res.locals.feature as FeatureRow;

const refuse = (deps: RouteDeps, req: Request, res: Response, environment: Environment | undefined, error: string, chosen?: unknown) =>
  show(deps, req, res, modelsTabOf(featureIn(res).name, environment), { deployment: { error, checks: [] }, chosen }, 422);

type Change = { model_id: unknown; environment: Environment };
/** The form as posted (re-posted by the confirmation) and the environment whose tab it was on. */
type Posted = { action: string; fields: Record<string, string>; back: Environment };

async function deployFromForm(deps: RouteDeps, req: Request, res: Response, change: Change, kind: DeploymentKind, posted: Posted) {
  const feature = featureIn(res);
  const chosen = kind === 'assign' ? change.model_id : undefined;
  if (deployNeedsConfirmation(kind, change.environment) && !isConfirmed(req.body)) {
    const cancel = url.features(modelsTabOf(feature.name, posted.back));
    const form = { action: url.featureAction(feature.name, posted.action), fields: posted.fields, cancel };
    const confirmation = await deployConfirmation(deps.db, feature, { ...change, model_id: String(change.model_id) }, kind, form);
    if (confirmation) return show(deps, req, res, modelsTabOf(feature.name, posted.back), { confirmation, chosen });
  }
  let outcome: ChangeOutcome;
  try {
    outcome = await deployOrRequest(deps.db, deps.providers, req.principal!, feature, change, kind, new Date());
  } catch (err) {
    return refuse(deps, req, res, change.environment, `Nothing was deployed: ${refusalOf(err).reasons}`, chosen);
  }
  const tab = modelsTabOf(feature.name, change.environment);
  if ('requested' in outcome) flash(req, 'success', requestedMessage(change.environment));
  else if (!outcome.applied.ok)
    return show(deps, req, res, tab, { deployment: outcome.applied.deployment, chosen }, outcome.applied.status);
  else flash(req, 'success', `Deployed to ${change.environment}: every check passed and the new model serves it now.`);
  // A promotion lands on the next environment's tab.
  await changed(deps, req, res, tab);
}

async function changeModel(deps: RouteDeps, req: Request, res: Response) {
  const { model_id, environment } = req.body ?? {};
  if (model_id === undefined || model_id === '')
    return refuse(deps, req, res, isEnvironment(environment) ? environment : undefined, 'Choose a model first.');
  if (!isEnvironment(environment))
    return refuse(deps, req, res, undefined, `Nothing was deployed: environment must be one of ${ENVIRONMENTS.join(', ')}`);
  const posted = { action: 'models', fields: { model_id: String(model_id), environment }, back: environment };
  await deployFromForm(deps, req, res, { model_id, environment }, 'assign', posted);
}

async function promote(deps: RouteDeps, req: Request, res: Response) {
  const from = req.body?.from;
  const to = isEnvironment(from) ? NEXT_ENVIRONMENT[from] : undefined;
  if (!isEnvironment(from) || !to)
    return refuse(deps, req, res, undefined, 'Promotion goes from development to staging or from staging to production');
  const source = withAssignments([featureIn(res)], await activeAssignments(deps.db))[0].assignments[from];
  if (!source) return refuse(deps, req, res, from, `Nothing serves ${from}, so there is nothing to promote`);
  await deployFromForm(deps, req, res, { model_id: source.model_id, environment: to }, 'promote', {
    action: 'promote',
    fields: { from },
    back: from,
  });
}

async function rollback(deps: RouteDeps, req: Request, res: Response) {
  const id = z.uuid().safeParse(req.body?.assignment_id);
  const earlier = id.success ? await findAssignment(deps.db, featureIn(res).name, id.data) : undefined;
  if (!earlier) return refuse(deps, req, res, undefined, 'Choose an earlier assignment of this feature to roll back to');
  const { model_id, environment } = earlier;
  const posted = { action: 'rollback', fields: { assignment_id: id.data as string }, back: environment };
  await deployFromForm(deps, req, res, { model_id, environment }, 'rollback', posted);
}

// The Settings tab's forms (settings, kill switch) post here. Success → 303 to the tab with a flash
// (htmx: the tab at once); a refusal → 422 with the messages on the fields; turning off a feature
// that serves production first shows what it serves where and asks again (nothing written till then).

const settingsTabOf = (slug: string) => ({ feature: slug, tab: 'settings' as const });

async function saveSettings(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const body: Record<string, unknown> = req.body ?? {};
  const tab = settingsTabOf(feature.name);
  const options = { now: new Date(), timeZone: deps.timeZone, confirmed: body.confirm === 'yes' };
  let outcome: SettingsOutcome;
  try {
    outcome = await updateFeatureSettings(deps.db, req.principal!, feature.id, body, options);
  } catch (err) {
    const refusal = refusalOf(err);
    return show(deps, req, res, tab, { settingsForm: { form: { values: body, errors: refusal.fields } } }, refusal.status);
  }
  if (outcome.kind === 'confirm') {
    const fields = Object.entries(body).filter(([k]) => k !== '_csrf' && k !== 'confirm');
    return show(deps, req, res, tab, { settingsForm: { confirmation: { status: outcome.status, served: outcome.served, fields } } });
  }
  const saved = outcome.kind === 'changed' ? outcome.fields.map((f) => FIELD_LABELS[f]).join(', ') : '';
  flash(req, 'success', saved ? `Saved: ${saved}. Products see it at their next fetch of the runtime config.` : 'Nothing changed.');
  await changed(deps, req, res, tab);
}

// The Prompts tab's forms (issue 15): a new version; an activation (a rollback when the version is
// older than the active one) or a promotion, each through the deployment pipeline. Success → 303 to
// the tab with a flash; a refusal → 422 (409 after a lost race) inline in the tab.

const promptsTabOf = (slug: string, diff: { from?: number; to?: number } = {}) => ({ feature: slug, tab: 'prompts' as const, ...diff });

/** GET …/:slug/prompts?format=csv: the version history as CSV; without format, the Prompts tab. */
async function promptHistory(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  if (req.query.format !== 'csv') return res.redirect(303, url.features(promptsTabOf(feature.name)));
  res
    .type('text/csv')
    .attachment(`${feature.name}-prompts.csv`)
    .send(await promptHistoryCsv(deps.db, feature));
}

/** The new-version form: saved (303), or — its Preview button — shown again with its variables and the template rendered, nothing written. */
async function savePrompt(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const { preview, ...body } = req.body ?? {};
  const { fields, errors } = fieldsFromForm(body);
  const again = (promptForm: Extra['promptForm'], status: number) =>
    show(deps, req, res, promptsTabOf(feature.name), { promptForm }, status);
  const refused = (e: Record<string, string>, status: number) => again({ values: body, errors: e }, status);
  if (Object.keys(errors).length) return refused(errors, 422);
  let saved: Saved;
  try {
    if (preview !== undefined) return await again({ values: body, errors: {}, preview: previewPromptVersion(fields) }, 200);
    saved = await savePromptVersion(deps.db, req.principal!, feature, fields);
  } catch (err) {
    const refusal = refusalOf(err);
    return refused(refusal.fields, refusal.status);
  }
  const n = saved.version.version;
  flash(req, 'success', saved.created ? `Saved as version ${n}.` : `Nothing saved: version ${n} has exactly this content.`);
  await changed(deps, req, res, promptsTabOf(feature.name, n > 1 && saved.created ? { from: n - 1, to: n } : {}));
}

async function activateFromForm(deps: RouteDeps, req: Request, res: Response, input: Record<string, unknown>, kind?: DeploymentKind) {
  const feature = featureIn(res);
  const tab = promptsTabOf(feature.name);
  let outcome: ActivationOutcome;
  try {
    outcome = await activateOrRequest(deps.db, deps.providers, req.principal!, feature, input, new Date(), kind);
  } catch (err) {
    return show(deps, req, res, tab, { deployment: { error: `Nothing was activated: ${refusalOf(err).reasons}`, checks: [] } }, 422);
  }
  if ('requested' in outcome) flash(req, 'success', requestedMessage(outcome.requested.environment));
  else if (!outcome.applied.ok) return show(deps, req, res, tab, { deployment: outcome.applied.deployment }, outcome.applied.status);
  else flash(req, 'success', `Version ${input.version} is active in ${input.environment}: every check passed.`);
  await changed(deps, req, res, tab);
}

async function activatePromptVersion(deps: RouteDeps, req: Request, res: Response) {
  const { environment, reason } = req.body ?? {};
  await activateFromForm(deps, req, res, { version: req.params.version, environment, reason });
}

async function promotePrompt(deps: RouteDeps, req: Request, res: Response) {
  const feature = featureIn(res);
  const from = req.body?.from;
  const to = isEnvironment(from) ? NEXT_ENVIRONMENT[from] : undefined;
  const active = isEnvironment(from) ? await activePrompt(deps.db, feature.id, from) : undefined;
  if (!to || !active) {
    const error = to
      ? `No prompt version is active in ${from}, so there is nothing to promote`
      : 'Promotion goes from development to staging or from staging to production';
    return show(deps, req, res, promptsTabOf(feature.name), { deployment: { error, checks: [] } }, 422);
  }
  await activateFromForm(deps, req, res, { version: active.version, environment: to, reason: req.body?.reason }, 'promote');
}
