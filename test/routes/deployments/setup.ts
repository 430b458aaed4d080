import request from 'supertest';
import { expect } from 'vitest';
import type { Db } from '../../../src/db/knex.ts';
import type { Simulator } from '../../../src/providers/simulator.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeToken, simulatorIdOf } from '../../setup/factories.ts';
import type {
  AssignmentRecord,
  AuditRecord,
  DeploymentRecord,
  Environment,
  FeatureRecord,
  HealthCheckRecord,
  ModelRecord,
} from '../../setup/rows.ts';

// The deployment pipeline through its JSON API (POST /api/platform/ai-management/features/:id/models),
// as its test files share it. The database and one app per file are shared with other files: every
// test deploys to features and (simulator) models of its own, so the simulator's per-model behaviour
// set by one test never reaches another.

export const API = '/api/platform/ai-management';

export interface Deployments {
  t: TestContext;
  /** An admin-scope token and the label deployments and the audit log give it. */
  admin: { token: string; label: string };
  readToken: string;
  simulatorId: string;
  /** The simulator of an app (this file's unless told). */
  simulator(ctx?: TestContext): Promise<Simulator>;
  /** POST …/features/:id/models with a bearer token (the admin's unless told), to an app (this file's unless told). */
  deployTo(featureId: string, body: unknown, token?: string, ctx?: TestContext): request.Test;
  /** A successful deployment of the model to the environment: the assignment it made. */
  assigned(featureId: string, modelId: string, environment?: Environment, ctx?: TestContext): Promise<AssignmentRecord>;
  activeRows(featureId: string, environment: Environment): Promise<AssignmentRecord[]>;
  deploymentsOf(featureId: string): Promise<DeploymentRecord[]>;
  auditOf(featureId: string): Promise<AuditRecord[]>;
  healthOf(modelId: string): Promise<HealthCheckRecord[]>;
  close(): Promise<void>;
}

/** The helpers on a test app over the shared test database, or over a database of a file's own (`db`). */
export async function openDeployments(db?: Db): Promise<Deployments> {
  const t = startTestApp({}, db);
  const key = await makeToken(t.db, 'admin');
  const admin = { token: key.token, label: `token:${key.key.name}` };
  const deployTo = (featureId: string, body: unknown, token = admin.token, ctx: TestContext = t) =>
    request(ctx.app)
      .post(`${API}/features/${featureId}/models`)
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  return {
    t,
    admin,
    readToken: (await makeToken(t.db, 'read')).token,
    simulatorId: await simulatorIdOf(t.db),
    simulator: (ctx = t) => ctx.app.providers.simulator(),
    deployTo,
    async assigned(featureId, modelId, environment = 'staging', ctx = t) {
      const res = await deployTo(featureId, { model_id: modelId, environment }, admin.token, ctx);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.data.assignment;
    },
    activeRows: (featureId, environment) =>
      t.db('feature_model_assignments').where({ feature_id: featureId, environment, is_active: true }),
    deploymentsOf: (featureId) => t.db('deployments').where({ feature_id: featureId }).orderBy('started_at'),
    auditOf: (featureId) => t.db('audit_log').where({ entity_type: 'feature', entity_id: featureId }).orderBy('id'),
    healthOf: (modelId) => t.db('health_checks').where({ model_id: modelId }).orderBy('id'),
    close: () => t.close(),
  };
}

/** The three checks of a deployment that passed them all. */
export const passed = () => [
  { name: 'model', ok: true, detail: expect.any(String) },
  { name: 'provider', ok: true, detail: expect.stringMatching(/ is active$/) },
  { name: 'smoke', ok: true, detail: expect.stringMatching(/^answered in \d+ ms$/), latency_ms: expect.any(Number) },
];

/**
 * A refusal: 422 (unless told) with the failed deployment in details, stored as failed with its checks
 * and error, audited as deployment.refused, and the assignment that served before still the only one.
 */
export async function expectRefused(
  d: Deployments,
  res: request.Response,
  o: { feature: FeatureRecord; before: AssignmentRecord; environment?: Environment; error: RegExp; checks: unknown[]; status?: number },
): Promise<DeploymentRecord> {
  const environment = o.environment ?? 'staging';
  expect(res.status, JSON.stringify(res.body)).toBe(o.status ?? 422);
  expect(res.body).toMatchObject({
    success: false,
    error: expect.stringMatching(o.error),
    details: { deployment: { status: 'failed', feature_id: o.feature.id } },
  });
  const id = res.body.details.deployment.id;
  const row: DeploymentRecord = (await d.t.db('deployments').where({ id }).first())!;
  expect(row).toMatchObject({
    status: 'failed',
    error: res.body.error,
    environment,
    assignment_id: null,
    previous_model_id: o.before.model_id,
    kind: 'assign',
    requested_by: d.admin.label,
  });
  expect(row.finished_at).toBeInstanceOf(Date);
  expect(row.checks).toEqual(o.checks);
  expect(res.body.details.deployment.checks).toEqual(o.checks);
  const audit: AuditRecord[] = await d.t
    .db('audit_log')
    .where({ action: 'deployment.refused', entity_type: 'feature', entity_id: o.feature.id })
    .whereRaw(`after->>'deployment_id' = ?`, [id]);
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({
    actor_type: 'token',
    actor_label: d.admin.label,
    before: null,
    after: { environment, model_id: row.model_id, deployment_id: id, error: res.body.error },
  });
  const active = await d.activeRows(o.feature.id, environment);
  expect(active.map((a) => [a.id, a.model_id])).toEqual([[o.before.id, o.before.model_id]]);
  return row;
}

/** A model of the reference data, by its name. */
export const modelNamed = async (d: Deployments, name: string): Promise<ModelRecord> =>
  (await d.t.db('ai_models').where({ name }).first())!;
