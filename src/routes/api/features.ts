import { Router } from 'express';
import { z } from 'zod';
import { type ActiveAssignmentRow, activeAssignments } from '../../db/queries/assignments.ts';
import { type FeatureRow, findFeature, listFeatures, withAssignments } from '../../db/queries/features.ts';
import { notFound } from '../../http/errors.ts';
import { choice, includeMetrics, parseQuery, timeRangeOf } from '../../http/query.ts';
import { featureMetrics, SPLITS } from '../../metrics/feature-metrics.ts';
import { featureSummaries, type Summary } from '../../metrics/summaries.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { environmentFilter, FIGURE_ENVIRONMENTS } from '../../pages/features.ts';
import { updateFeatureSettings } from '../../services/feature-settings.ts';
import { flattenApiChange } from '../../services/feature-settings-input.ts';
import { createFeature } from '../../services/features.ts';
import type { RouteDeps } from '../deps.ts';

/** The plan's AIFeatureWithMetrics shape (metrics only when asked for). */
function featureJson(f: FeatureRow, production?: ActiveAssignmentRow, metrics?: Summary) {
  return {
    id: f.id,
    name: f.name,
    display_name: f.display_name,
    description: f.description,
    status: f.status,
    status_reason: f.status_reason,
    restore_at: f.restore_at,
    required_model_type: f.required_model_type,
    settings: {
      error_rate_threshold: Number(f.error_rate_threshold),
      latency_threshold_ms: f.latency_threshold_ms,
      monthly_budget_usd: f.monthly_budget_usd,
      over_budget_action: f.over_budget_action,
      min_eval_pass_rate: f.min_eval_pass_rate,
    },
    current_model: production
      ? {
          id: production.model_id,
          name: production.model_name,
          display_name: production.model_display_name,
          provider_name: production.provider_name,
        }
      : null,
    ...(metrics && {
      metrics: {
        uptime: metrics.uptime,
        error_rate: metrics.error_rate,
        response_time: metrics.response_time,
        p95: metrics.p95,
        total_requests: metrics.total_requests,
        success_rate: metrics.success_rate,
        cost_per_request: metrics.cost_per_request,
        total_cost: metrics.total_cost,
      },
    }),
  };
}

/** SPEC §4: a feature's figures are production's unless `environment=` names another (`all` adds them up). */
const environmentQuery = z.object({ environment: choice(FIGURE_ENVIRONMENTS).default('production') });
/** A feature's figures may also be split by prompt version (SPEC §10.1): `split=prompt_version` adds by_prompt_version. */
const metricsQuery = environmentQuery.extend({ split: choice(SPLITS).optional() });

/** Features and their figures (SPEC §6), mounted at /api/platform/ai-management. */
export function featureApiRoutes({ db, timeZone }: RouteDeps): Router {
  const router = Router();

  router.get('/features', requireRead, async (req, res) => {
    const range = timeRangeOf(req);
    const withMetrics = includeMetrics(req);
    const { environment } = parseQuery(environmentQuery, { environment: req.query.environment });
    const [features, assignments] = await Promise.all([listFeatures(db), activeAssignments(db)]);
    const metrics = withMetrics ? await featureSummaries(db, features, range, new Date(), environmentFilter(environment)) : undefined;
    const data = withAssignments(features, assignments).map((f) => featureJson(f, f.assignments.production, metrics?.get(f.id)));
    const metadata = { time_range: range, environment, generated_at: new Date().toISOString() };
    res.json({ success: true, data, ...(withMetrics && { metadata }) });
  });

  router.get('/features/:id', requireRead, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const [withModels] = withAssignments([feature], await activeAssignments(db));
    res.json({ success: true, data: featureJson(feature, withModels.assignments.production) });
  });

  router.get('/features/:id/metrics', requireRead, async (req, res) => {
    const range = timeRangeOf(req);
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const { environment, split } = parseQuery(metricsQuery, { environment: req.query.environment, split: req.query.split });
    const now = new Date();
    const data = await featureMetrics(db, feature, range, now, timeZone, environmentFilter(environment), split);
    res.json({
      success: true,
      data,
      metadata: {
        feature_id: feature.id,
        time_range: range,
        environment,
        ...(split && { split }),
        generated_at: now.toISOString(),
        time_zone: timeZone,
      },
    });
  });

  router.post('/features', requireWrite, async (req, res) => {
    const feature = await createFeature(db, req.principal!, req.body);
    res.status(201).json({ success: true, data: featureJson(feature) });
  });

  // SPEC §10.3: the Settings tab's rules, settings nested; no confirmation step (the caller means it).
  router.patch('/features/:id', requireWrite, async (req, res) => {
    const found = await findFeature(db, String(req.params.id));
    if (!found) throw notFound('Feature');
    const change = flattenApiChange(req.body);
    const options = { now: new Date(), timeZone, confirmed: true };
    const outcome = await updateFeatureSettings(db, req.principal!, found.id, change, options);
    const [withModels] = withAssignments([outcome.feature], await activeAssignments(db, { featureId: found.id }));
    res.json({
      success: true,
      data: featureJson(outcome.feature, withModels.assignments.production),
      metadata: { changed: outcome.kind === 'changed' ? outcome.fields : [] },
    });
  });

  return router;
}
