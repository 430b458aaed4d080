import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { findFeature } from '../../db/queries/features.ts';
import { findPromptVersion, promptDeployments, promptVersions } from '../../db/queries/prompts.ts';
import { notFound } from '../../http/errors.ts';
import { parseQuery } from '../../http/query.ts';
import { requireRead, requireWrite } from '../../middleware/auth.ts';
import { diffOf } from '../../pages/feature-prompts-tab.ts';
import { activateOrRequest } from '../../services/change-requests.ts';
import { fieldsFromJson, savePromptVersion } from '../../services/prompt-versions.ts';
import { promptJson } from '../../services/runtime-config.ts';
import type { RouteDeps } from '../deps.ts';
import { answerRequested } from './change-requests.ts';

const versionNumber = z.coerce
  .number({ message: 'must be a version number' })
  .int('must be a version number')
  .positive('must be a version number');
const diffQuery = z.object({ from: versionNumber, to: versionNumber });

const featureOf = async (deps: RouteDeps, req: Request) => {
  const feature = await findFeature(deps.db, String(req.params.id ?? req.params.name));
  if (!feature) throw notFound('Feature');
  return feature;
};

async function versionOf(deps: RouteDeps, req: Request) {
  const feature = await featureOf(deps, req);
  const n = versionNumber.safeParse(req.params.version);
  const version = n.success ? await findPromptVersion(deps.db, feature.id, n.data) : undefined;
  if (!version) throw notFound('Prompt version');
  return { feature, version };
}

/** A feature's prompt versions (SPEC §10.1), mounted at /api/platform/ai-management. */
export function promptApiRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/features/:id/prompts', requireRead, async (req, res) => {
    const feature = await featureOf(deps, req);
    const [versions, history] = await Promise.all([promptVersions(deps.db, feature.id), promptDeployments(deps.db, feature.id)]);
    res.json({ success: true, data: { versions, history } });
  });
  router.post('/features/:id/prompts', requireWrite, async (req, res) => {
    const feature = await featureOf(deps, req);
    const body = typeof req.body === 'object' && req.body !== null ? req.body : {};
    const saved = await savePromptVersion(deps.db, req.principal!, feature, fieldsFromJson(body));
    res.status(saved.created ? 201 : 200).json({ success: true, data: { version: saved.version, created: saved.created } });
  });
  router.get('/features/:id/prompts/diff', requireRead, async (req, res) => {
    const feature = await featureOf(deps, req);
    const pick = parseQuery(diffQuery, req.query);
    res.json({ success: true, data: diffOf(await promptVersions(deps.db, feature.id), pick) });
  });
  router.get('/features/:id/prompts/:version', requireRead, async (req, res) => {
    res.json({ success: true, data: (await versionOf(deps, req)).version });
  });
  router.post('/features/:id/prompts/:version/activate', requireWrite, (req, res) => activate(deps, req, res));
  return router;
}

async function activate(deps: RouteDeps, req: Request, res: Response) {
  const { feature, version } = await versionOf(deps, req);
  const body = typeof req.body === 'object' && req.body !== null ? req.body : {};
  const change = await activateOrRequest(
    deps.db,
    deps.providers,
    req.principal!,
    feature,
    { ...body, version: version.version },
    new Date(),
  );
  if ('requested' in change) return answerRequested(res, change.requested, 'activation');
  const outcome = change.applied;
  if (outcome.ok)
    return void res.status(201).json({ success: true, data: { deployment: outcome.deployment, activation: outcome.activation } });
  res.status(outcome.status).json({
    success: false,
    error: String(outcome.deployment.error),
    details: { deployment: outcome.deployment, checks: outcome.deployment.checks },
  });
}

/** GET /api/v1/features/:name/prompts/:version: a pinned version, for the product (any token, like the runtime config). Mounted at /api/v1. */
export function pinnedPromptRoutes(deps: RouteDeps): Router {
  const router = Router();
  router.get('/features/:name/prompts/:version', async (req, res) => {
    const { version } = await versionOf(deps, req);
    // A version never changes: its content hash is its ETag.
    const etag = `"${version.content_hash}"`;
    res.set('ETag', etag);
    if (req.principal?.kind === 'token') res.set('Cache-Control', 'no-cache');
    if (req.get('If-None-Match') === etag) return void res.status(304).end();
    res.json(promptJson(version));
  });
  return router;
}
