import { type Request, type Response, Router } from 'express';
import type { ModelRow } from '../db/queries/catalogue.ts';
import { findFeature, listFeatures } from '../db/queries/features.ts';
import { MODEL_STATUSES } from '../domain.ts';
import { refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { type Confirmation, deployConfirmation, deployNeedsConfirmation, isConfirmed } from '../pages/confirmations.ts';
import { deployChoices } from '../pages/model.ts';
import { type ChangeOutcome, deployOrRequest, requestedMessage } from '../services/change-requests.ts';
import { describeAffected, EDITABLE_MODEL_FIELDS, updateModel } from '../services/models.ts';
import { type FormState, render } from '../views.ts';
import type { RouteDeps } from './deps.ts';

/**
 * A model's "Configure" and "Deploy" pages (admins only), mounted under /models/:id (the model is
 * loaded into res.locals.model): plain forms, 303 on success, the reasons inline on refusal.
 */
export function modelFormRoutes(deps: RouteDeps): Router {
  const router = Router({ mergeParams: true });
  router.use(requireWrite);
  router.get('/edit', (req, res) => showEdit(req, res, modelIn(res), currentValues(modelIn(res))));
  router.post('/edit', (req, res) => saveEdit(deps, req, res));
  router.get('/deploy', (req, res) => showDeploy(deps, req, res, { environment: 'development' }));
  router.post('/deploy', (req, res) => deployModel(deps, req, res));
  return router;
}

const modelIn = (res: Response) => res.locals.model as ModelRow;

const currentValues = (model: ModelRow): FormState => ({
  values: Object.fromEntries(EDITABLE_MODEL_FIELDS.map((k) => [k, model[k]])),
  errors: {},
});

function showEdit(req: Request, res: Response, model: ModelRow, form: FormState, warning?: { message: string }, status = 200) {
  render(
    req,
    res,
    { page: 'pages/model-edit' },
    { title: `Configure ${model.display_name}`, model, form, warning, statuses: MODEL_STATUSES },
    status,
  );
}

async function saveEdit(deps: RouteDeps, req: Request, res: Response) {
  const model = modelIn(res);
  const body = req.body ?? {};
  const input = Object.fromEntries([...EDITABLE_MODEL_FIELDS, 'confirm'].map((k) => [k, body[k]]));
  try {
    const { model: saved, affected } = await updateModel(deps.db, req.principal!, model.id, input);
    const still = `Saved ${saved.display_name} as ${saved.status}. Still assigned to ${describeAffected(affected)}: move those features to another model.`;
    flash(req, affected.length ? 'error' : 'success', affected.length ? still : `Saved ${saved.display_name}.`);
    res.redirect(303, url.model(model.id));
  } catch (err) {
    const refusal = refusalOf(err);
    const warning = refusal.status === 409 ? { message: refusal.message } : undefined;
    showEdit(req, res, model, { values: body, errors: refusal.fields }, warning, refusal.status);
  }
}

/** What the Deploy page shows besides the form: a refused deployment with its checks, field errors, or the confirmation it asks for. */
interface DeployExtra {
  deployment?: Record<string, unknown>;
  errors?: Record<string, string>;
  confirmation?: Confirmation;
}

async function showDeploy(
  deps: RouteDeps,
  req: Request,
  res: Response,
  values: Record<string, unknown>,
  extra: DeployExtra = {},
  status = 200,
) {
  const model = modelIn(res);
  const features = await listFeatures(deps.db);
  render(
    req,
    res,
    { page: 'pages/model-deploy' },
    {
      title: `Deploy ${model.display_name}`,
      model,
      form: { values, errors: extra.errors ?? {} },
      deployment: extra.deployment,
      confirmation: extra.confirmation,
      ...deployChoices(features, model),
    },
    status,
  );
}

// Through the deployment pipeline: success → the deployment's page, a refusal → its checks here.
async function deployModel(deps: RouteDeps, req: Request, res: Response) {
  const model = modelIn(res);
  const body = req.body ?? {};
  const feature = typeof body.feature === 'string' && body.feature ? await findFeature(deps.db, body.feature) : undefined;
  if (!feature) return showDeploy(deps, req, res, body, { errors: { feature: 'is required: choose the feature to deploy to' } }, 422);
  const change = { model_id: model.id, environment: body.environment };
  if (deployNeedsConfirmation('assign', change.environment) && !isConfirmed(body)) {
    const form = {
      action: url.model(model.id, 'deploy'),
      fields: { feature: feature.name, environment: change.environment },
      cancel: url.model(model.id),
    };
    const confirmation = await deployConfirmation(deps.db, feature, change, 'assign', form);
    return showDeploy(deps, req, res, body, { confirmation });
  }
  let outcome: ChangeOutcome;
  try {
    outcome = await deployOrRequest(deps.db, deps.providers, req.principal!, feature, change, 'assign', new Date());
  } catch (err) {
    const deployment = { error: `Nothing was deployed: ${refusalOf(err).reasons}`, checks: [] };
    return showDeploy(deps, req, res, body, { deployment }, 422);
  }
  if ('requested' in outcome) {
    flash(req, 'success', requestedMessage(outcome.requested.environment));
    return res.redirect(303, url.approvals());
  }
  if (!outcome.applied.ok) return showDeploy(deps, req, res, body, { deployment: outcome.applied.deployment }, outcome.applied.status);
  flash(req, 'success', `${model.display_name} now serves ${feature.display_name} in ${body.environment}: every check passed.`);
  res.redirect(303, url.deployment(outcome.applied.deployment.id));
}
