import { Router } from 'express';
import { type ActiveAssignmentRow, activeAssignments, type FeatureRow, findFeature, listFeatures, withAssignments } from '../db/queries/features.ts';
import type { Db } from '../db/knex.ts';
import { notFound } from '../http-error.ts';
import { requireRead, requireWrite } from '../middleware/auth.ts';
import { createFeature } from '../services/features.ts';

const BASE = '/platform/ai-management';

/** The plan's AIFeature shape (metrics join it with the metrics engine). */
function featureJson(f: FeatureRow, production?: ActiveAssignmentRow) {
  return {
    id: f.id,
    name: f.name,
    display_name: f.display_name,
    description: f.description,
    status: f.status,
    required_model_type: f.required_model_type,
    settings: {
      error_rate_threshold: f.error_rate_threshold,
      latency_threshold_ms: f.latency_threshold_ms,
      monthly_budget_usd: f.monthly_budget_usd,
    },
    current_model: production
      ? { id: production.model_id, name: production.model_name, display_name: production.model_display_name, provider_name: production.provider_name }
      : null,
  };
}

export function apiRoutes(db: Db): Router {
  const router = Router();

  router.get(`${BASE}/features`, requireRead, async (_req, res) => {
    const [features, assignments] = await Promise.all([listFeatures(db), activeAssignments(db)]);
    res.json({ success: true, data: withAssignments(features, assignments).map((f) => featureJson(f, f.assignments.production)) });
  });

  router.get(`${BASE}/features/:id`, requireRead, async (req, res) => {
    const feature = await findFeature(db, String(req.params.id));
    if (!feature) throw notFound('Feature');
    const [withModels] = withAssignments([feature], await activeAssignments(db));
    res.json({ success: true, data: featureJson(feature, withModels.assignments.production) });
  });

  router.post(`${BASE}/features`, requireWrite, async (req, res) => {
    const feature = await createFeature(db, req.principal!, req.body);
    res.status(201).json({ success: true, data: featureJson(feature) });
  });

  return router;
}
