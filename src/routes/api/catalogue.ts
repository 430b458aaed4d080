import { Router } from 'express';
import { z } from 'zod';
import {
  activeDeployments,
  findProvider,
  listModels,
  listProviders,
  type ModelDeploymentRow,
  type ModelRow,
  type ProviderRow,
} from '../../db/queries/catalogue.ts';
import { MODEL_STATUSES } from '../../domain.ts';
import { notFound } from '../../http/errors.ts';
import { includeMetrics, parseQuery, timeRangeOf } from '../../http/query.ts';
import { modelSummaries, providerSummaries, type Summary } from '../../metrics/summaries.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { createModel, updateModel } from '../../services/models.ts';
import { createProvider, probeProvider, updateProvider } from '../../services/providers.ts';
import type { RouteDeps } from '../deps.ts';

const modelFilters = z.object({
  provider: z.string({ message: 'must be one provider slug or id' }).max(100, 'must be at most 100 characters').optional(),
  status: z.enum(MODEL_STATUSES, { message: `must be one of ${MODEL_STATUSES.join(', ')}` }).optional(),
});

/** A model as the API shows it (the plan's shape), with where it serves and, when asked, its figures. */
function modelJson(m: ModelRow, deployments: ModelDeploymentRow[], s?: Summary) {
  return {
    id: m.id,
    name: m.name,
    display_name: m.display_name,
    provider_name: m.provider_name,
    provider_display_name: m.provider_display_name,
    model_type: m.model_type,
    status: m.status,
    context_window: m.context_window,
    pricing: {
      input_per_1k: Number(m.input_price_per_1k),
      output_per_1k: Number(m.output_price_per_1k),
      cost_estimate: `$${Number(m.input_price_per_1k)} / 1k input tokens, $${Number(m.output_price_per_1k)} / 1k output tokens`,
    },
    deployments: deployments.filter((d) => d.model_id === m.id).map(({ model_id: _m, ...d }) => d),
    ...(s && {
      performance_metrics: {
        average_response_time: s.response_time,
        p95_response_time: s.p95,
        success_rate: s.success_rate,
        total_requests: s.total_requests,
        total_cost: s.total_cost,
      },
    }),
  };
}

type ProviderSummary = Summary & { health_score: number | null; monthly_spend: number };

/** A provider as the API shows it: never its key, only the last 4 characters. */
function providerJson(p: ProviderRow, s?: ProviderSummary) {
  return {
    id: p.id,
    name: p.name,
    display_name: p.display_name,
    kind: p.kind,
    base_url: p.base_url,
    status: p.status,
    api_key_hint: p.key_hint,
    model_count: Number(p.model_count),
    ...(s && {
      monthly_spend: s.monthly_spend,
      health_score: s.health_score,
      uptime: s.uptime,
      response_time: s.response_time,
      success_rate: s.success_rate,
      total_requests: s.total_requests,
    }),
  };
}

/** The catalogue: models and providers, read and edited (SPEC §6), mounted at /api/platform/ai-management. */
export function catalogueApiRoutes({ db, providers }: RouteDeps): Router {
  const router = Router();

  router.get('/models', requireRead, async (req, res) => {
    const { provider, status } = parseQuery(modelFilters, { provider: req.query.provider, status: req.query.status });
    const range = timeRangeOf(req);
    const models = (await listModels(db)).filter(
      (m) => (!provider || m.provider_name === provider || m.provider_id === provider) && (!status || m.status === status),
    );
    const deployments = await activeDeployments(db);
    const metrics = includeMetrics(req)
      ? await modelSummaries(
          db,
          models.map((m) => m.id),
          range,
          new Date(),
        )
      : undefined;
    const data = models.map((m) => modelJson(m, deployments, metrics?.get(m.id)));
    res.json({ success: true, data, ...(metrics && { metadata: { time_range: range, generated_at: new Date().toISOString() } }) });
  });

  router.post('/models', requireWrite, async (req, res) => {
    const model = await createModel(db, req.principal!, req.body ?? {});
    res.status(201).json({ success: true, data: modelJson(model, []) });
  });

  router.patch('/models/:id', requireWrite, async (req, res) => {
    const { model, affected } = await updateModel(db, req.principal!, String(req.params.id), req.body ?? {});
    res.json({
      success: true,
      data: modelJson(model, await activeDeployments(db)),
      ...(affected.length && { metadata: { out_of_service: affected } }),
    });
  });

  router.get('/providers', requireRead, async (req, res) => {
    const rows = await listProviders(db);
    const metrics = includeMetrics(req)
      ? await providerSummaries(
          db,
          rows.map((p) => p.id),
          new Date(),
        )
      : undefined;
    const data = rows.map((p) => providerJson(p, metrics?.get(p.id)));
    res.json({
      success: true,
      data,
      ...(metrics && {
        metadata: { window: '24h', monthly_spend_since: 'first day of this month (UTC)', generated_at: new Date().toISOString() },
      }),
    });
  });

  router.post('/providers', requireWrite, async (req, res) => {
    res.status(201).json({ success: true, data: providerJson(await createProvider(db, providers, req.principal!, req.body ?? {})) });
  });

  router.patch('/providers/:id', requireWrite, async (req, res) => {
    res.json({
      success: true,
      data: providerJson(await updateProvider(db, providers, req.principal!, String(req.params.id), req.body ?? {})),
    });
  });

  // "Test connection": the health probe now, stored with the others.
  router.post('/providers/:id/test', requireWrite, async (req, res) => {
    const provider = await findProvider(db, String(req.params.id));
    if (!provider) throw notFound('Provider');
    const result = await probeProvider(db, providers, provider.id, 'manual');
    res.json({ success: true, data: { ok: result.ok, latency_ms: result.latencyMs, error: result.error ?? null } });
  });

  return router;
}
