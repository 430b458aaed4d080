import type { Request, Response } from 'express';
import { Router } from 'express';
import type { Db } from '../db/knex.ts';
import { findModel, MODEL_STATUSES, type ModelRow } from '../db/queries/catalogue.ts';
import { findFeature, listFeatures } from '../db/queries/features.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { requireWrite } from '../middleware/auth.ts';
import { deployChoices } from '../pages/model.ts';
import type { Providers } from '../providers/index.ts';
import { type DeployOutcome, deploy } from '../services/deployments.ts';
import { describeAffected, EDITABLE_MODEL_FIELDS, updateModel } from '../services/models.ts';
import { type FormState, render } from '../views.ts';

const PATH = '/platform/ai-management/models';

/** A model's "Configure" and "Deploy" pages (admins only): plain forms, 303 on success, the reasons inline on refusal. */
export function modelFormRoutes(db: Db, providers: Providers): Router {
  const router = Router();

  async function modelOf(req: Request): Promise<ModelRow> {
    const model = await findModel(db, String(req.params.id));
    if (!model) throw notFound('Model');
    return model;
  }

  function showEdit(req: Request, res: Response, model: ModelRow, form: FormState, warning?: { message: string }, status = 200) {
    render(
      req,
      res,
      { page: 'pages/model-edit' },
      { title: `Configure ${model.display_name}`, model, form, warning, statuses: MODEL_STATUSES },
      status,
    );
  }

  router.get(`${PATH}/:id/edit`, requireWrite, async (req, res) => {
    const model = await modelOf(req);
    showEdit(req, res, model, {
      values: Object.fromEntries(EDITABLE_MODEL_FIELDS.map((k) => [k, k.endsWith('_1k') ? Number(model[k]) : model[k]])),
      errors: {},
    });
  });

  router.post(`${PATH}/:id/edit`, requireWrite, async (req, res) => {
    const model = await modelOf(req);
    const body = req.body ?? {};
    const input = Object.fromEntries([...EDITABLE_MODEL_FIELDS, 'confirm'].map((k) => [k, body[k]]));
    try {
      const { model: saved, affected } = await updateModel(db, req.principal!, model.id, input);
      flash(
        req,
        affected.length ? 'error' : 'success',
        affected.length
          ? `Saved ${saved.display_name} as ${saved.status}. Still assigned to ${describeAffected(affected)}: move those features to another model.`
          : `Saved ${saved.display_name}.`,
      );
      res.redirect(303, `${PATH}/${model.id}`);
    } catch (err) {
      if (!(err instanceof HttpError) || (err.status !== 422 && err.status !== 409)) throw err;
      const errors = err.status === 422 ? (err.details as Record<string, string>) : {};
      showEdit(req, res, model, { values: body, errors }, err.status === 409 ? { message: err.message } : undefined, err.status);
    }
  });

  async function showDeploy(
    req: Request,
    res: Response,
    model: ModelRow,
    values: Record<string, unknown>,
    deployment?: Record<string, unknown>,
    status = 200,
  ) {
    const features = await listFeatures(db);
    render(
      req,
      res,
      { page: 'pages/model-deploy' },
      {
        title: `Deploy ${model.display_name}`,
        model,
        values,
        deployment,
        ...deployChoices(features, model),
      },
      status,
    );
  }

  router.get(`${PATH}/:id/deploy`, requireWrite, async (req, res) =>
    showDeploy(req, res, await modelOf(req), { environment: 'development' }),
  );

  // Through the deployment pipeline: success → the deployment's page, a refusal → its checks here.
  router.post(`${PATH}/:id/deploy`, requireWrite, async (req, res) => {
    const model = await modelOf(req);
    const { feature: slug, environment } = req.body ?? {};
    const feature = typeof slug === 'string' && slug ? await findFeature(db, slug) : undefined;
    if (!feature) return showDeploy(req, res, model, req.body ?? {}, { error: 'Choose a feature to deploy to.', checks: [] }, 422);
    let outcome: DeployOutcome;
    try {
      outcome = await deploy(db, providers, req.principal!, feature, { model_id: model.id, environment }, 'assign');
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 422) throw err;
      const reasons = Object.entries((err.details ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k} ${v}`)
        .join('; ');
      return showDeploy(req, res, model, req.body ?? {}, { error: `Nothing was deployed: ${reasons}`, checks: [] }, 422);
    }
    if (!outcome.ok) return showDeploy(req, res, model, req.body ?? {}, outcome.deployment, outcome.status);
    flash(req, 'success', `${model.display_name} now serves ${feature.display_name} in ${environment}: every check passed.`);
    res.redirect(303, `/platform/ai-management/deployments/${outcome.deployment.id}`);
  });

  return router;
}
