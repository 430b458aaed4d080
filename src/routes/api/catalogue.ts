import { Router } from 'express';
import { z } from 'zod';
import { activeDeployments, listModels, listProviders } from '../../db/queries/catalogue.ts';
import type { Db } from '../../db/knex.ts';
import { HttpError } from '../../http-error.ts';
import { modelSummaries, providerSummaries } from '../../metrics/summaries.ts';
import { requireRead } from '../../middleware/auth.ts';
import { flagOf, timeRangeOf } from './params.ts';

const BASE = '/platform/ai-management';
const modelFilters = z.object({
  provider: z.string().max(100).optional(),
  status: z.enum(['available', 'beta', 'deprecated', 'offline'], { message: 'must be one of available, beta, deprecated, offline' }).optional(),
});

export function catalogueApiRoutes(db: Db): Router {
  const router = Router();

  router.get(`${BASE}/models`, requireRead, async (req, res) => {
    const filters = modelFilters.safeParse({ provider: req.query.provider || undefined, status: req.query.status || undefined });
    if (!filters.success) throw new HttpError(400, `status ${filters.error.issues[0].message}`);
    const range = timeRangeOf(req);
    const { provider, status } = filters.data;
    const models = (await listModels(db)).filter(
      (m) => (!provider || m.provider_name === provider || m.provider_id === provider) && (!status || m.status === status),
    );
    const deployments = await activeDeployments(db);
    const metrics = flagOf(req, 'include_metrics') ? await modelSummaries(db, models.map((m) => m.id), range, new Date()) : undefined;
    const data = models.map((m) => {
      const s = metrics?.get(m.id);
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
    });
    res.json({ success: true, data, ...(metrics && { metadata: { time_range: range, generated_at: new Date().toISOString() } }) });
  });

  router.get(`${BASE}/providers`, requireRead, async (req, res) => {
    const providers = await listProviders(db);
    const metrics = flagOf(req, 'include_metrics') ? await providerSummaries(db, providers.map((p) => p.id), new Date()) : undefined;
    const data = providers.map((p) => {
      const s = metrics?.get(p.id);
      return {
        id: p.id,
        name: p.name,
        display_name: p.display_name,
        kind: p.kind,
        base_url: p.base_url,
        status: p.status,
        api_key_hint: p.api_key_last4 ? `••••${p.api_key_last4}` : null,
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
    });
    res.json({ success: true, data, ...(metrics && { metadata: { window: '24h', monthly_spend_since: 'first day of this month (UTC)', generated_at: new Date().toISOString() } }) });
  });

  return router;
}
