import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { findFeature } from '../db/queries/features.ts';
import { ENVIRONMENTS, isUuid } from '../domain.ts';
import { notFound, refusalOf } from '../http/errors.ts';
import { flash } from '../http/flash.ts';
import { choice, parseQuery } from '../http/query.ts';
import { url } from '../http/urls.ts';
import { requireWrite } from '../middleware/auth.ts';
import { isConfirmed, rolloutConfirmation } from '../pages/confirmations.ts';
import { rolloutView } from '../pages/rollout.ts';
import { rolloutBodyOfForm, rolloutForm } from '../pages/rollout-form.ts';
import { requestedMessage, startOrRequest } from '../services/change-requests.ts';
import { changeRollout, completeRollout, type Rollout, type RolloutAction } from '../services/rollouts.ts';
import { render } from '../views.ts';
import { loader, type RouteDeps } from './deps.ts';

// Gradual rollouts in the console (issue 18): the start form, the live page (polled while running),
// and its actions as plain forms (303 back to the page, a refusal as a flash).

const newSchema = z.object({ feature: z.string().min(1), environment: choice(ENVIRONMENTS).default('production') });
const ACTIONS: Record<RolloutAction | 'complete', string> = {
  percent: 'Raised',
  pause: 'Paused',
  resume: 'Resumed',
  rollback: 'Rolled back: everyone is on stable again',
  abort: 'Aborted: everyone is on stable again',
  complete: 'Completed: the candidate now serves everyone',
};
const VIEW = { page: 'pages/rollout', partial: 'partials/rollouts/rollout-body' };

export function rolloutRoutes(deps: RouteDeps): Router {
  const { db } = deps;
  const router = Router();
  router.param(
    'rollout',
    loader('rollout', 'Rollout', (id) => db('rollouts').where({ id }).first(), isUuid),
  );

  router.get('/new', async (req, res) => {
    const q = parseQuery(newSchema, req.query);
    await showForm(deps, req, res, q.feature, q.environment, { values: {}, errors: {} });
  });

  router.post('/', requireWrite, async (req, res) => {
    const values = (req.body ?? {}) as Record<string, string>;
    const feature = await findFeature(db, String(values.feature ?? ''));
    if (!feature) throw notFound('Feature');
    try {
      const outcome = await startOrRequest(db, deps.providers, req.principal!, feature, rolloutBodyOfForm(values), new Date());
      if ('requested' in outcome) {
        flash(req, 'success', requestedMessage(outcome.requested.environment));
        return res.redirect(303, url.rolloutStart({ feature: feature.name, environment: outcome.requested.environment }));
      }
      const rollout = outcome.started;
      flash(req, 'success', `Rollout started at ${rollout.percent_bp / 100}% of ${rollout.environment}.`);
      res.redirect(303, url.rollout(rollout.id));
    } catch (err) {
      const refusal = refusalOf(err);
      const errors = Object.keys(refusal.fields).length ? refusal.fields : { model_id: refusal.message };
      await showForm(deps, req, res, feature.name, values.environment, { values, errors }, refusal.status);
    }
  });

  router.get('/:rollout', async (req, res) => {
    const rollout = res.locals.rollout as Rollout;
    render(req, res, VIEW, { title: 'Rollout', r: await rolloutView(db, rollout, new Date()) });
  });

  router.post('/:rollout/:action', requireWrite, async (req, res) => {
    const rollout = res.locals.rollout as Rollout;
    const action = String(req.params.action) as keyof typeof ACTIONS;
    if (!(action in ACTIONS)) throw notFound();
    if (rollout.environment === 'production' && !isConfirmed(req.body)) {
      const r = await rolloutView(db, rollout, new Date());
      const fields: Record<string, string> = action === 'percent' ? { percent: String(req.body?.percent ?? '') } : {};
      const confirmation = rolloutConfirmation(r, action, {
        action: url.rollout(rollout.id, action),
        fields,
        cancel: url.rollout(rollout.id),
      });
      return render(req, res, { page: 'pages/rollout' }, { title: 'Rollout', r, confirmation });
    }
    try {
      if (action === 'complete') {
        const feature = await findFeature(db, rollout.feature_id);
        await completeRollout(db, deps.providers, req.principal!, feature!, rollout);
      } else await changeRollout(db, req.principal!, rollout.id, action, req.body ?? {});
      flash(req, 'success', `${ACTIONS[action]}.`);
    } catch (err) {
      flash(req, 'error', `Nothing changed: ${refusalOf(err).reasons}`);
    }
    res.redirect(303, url.rollout(rollout.id));
  });
  return router;
}

async function showForm(deps: RouteDeps, req: Request, res: Response, slug: string, environment: unknown, form: object, status = 200) {
  const feature = await findFeature(deps.db, slug);
  if (!feature) throw notFound('Feature');
  const env = ENVIRONMENTS.includes(environment as never) ? (environment as (typeof ENVIRONMENTS)[number]) : 'production';
  const data = await rolloutForm(deps.db, feature, env);
  render(req, res, { page: 'pages/rollout-start' }, { title: `Start a rollout · ${feature.display_name}`, ...data, form }, status);
}
