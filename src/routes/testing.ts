import type { Request, Response } from 'express';
import type { FeatureRow } from '../db/queries/features.ts';
import { refusalOf } from '../http/errors.ts';
import { caseFormOfPlayground, type TestCasesShown } from '../pages/test-cases.ts';
import { type PlaygroundResult, playgroundCall, playgroundInputOfForm } from '../services/playground.ts';
import type { FormState } from '../views.ts';
import type { RouteDeps, ShowFeatures } from './deps.ts';

/** The playground as the Testing tab shows it: the form (values and errors) and the result of a call sent. */
export interface PlaygroundShown {
  form: FormState;
  result?: PlaygroundResult;
}

type Show = ShowFeatures<{ playground: PlaygroundShown; testCases?: TestCasesShown }>;

// What a refusal names as `environment` or `model_id`, the form names `target`; `messages` is its `message`.
const FORM_FIELD: Record<string, string> = { environment: 'target', model_id: 'target', messages: 'message' };

/** POST …/:slug/playground: the call sent and the Testing tab shown with its result (a failed call says why); a refused form again (422). */
export async function playground(deps: RouteDeps, req: Request, res: Response, show: Show) {
  const feature = res.locals.feature as FeatureRow;
  const values = (req.body ?? {}) as Record<string, string>;
  const tab = { feature: feature.name, tab: 'testing' };
  try {
    const result = await playgroundCall(deps.db, deps.providers, req.principal!, feature, playgroundInputOfForm(values));
    const prefill = caseFormOfPlayground(values, result);
    await show(deps, req, res, tab, { playground: { form: { values, errors: {} }, result }, testCases: { prefill } });
  } catch (err) {
    const refusal = refusalOf(err);
    const errors = Object.fromEntries(Object.entries(refusal.fields).map(([k, v]) => [FORM_FIELD[k] ?? k, v]));
    await show(deps, req, res, tab, { playground: { form: { values, errors }, result: undefined } }, 422);
  }
}
