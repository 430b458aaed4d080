import request from 'supertest';
import { expect } from 'vitest';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import { getPage } from '../../setup/html.ts';
import type { Environment, FeatureRecord, ModelRecord } from '../../setup/rows.ts';
import { signInAs } from '../../setup/session.ts';

// Prompt management (issue 15) as its test files share it: one app per file on the shared database;
// every test writes versions of a feature of its own, served in every environment by a simulator
// model of its own (so the simulator's per-model behaviour one test sets never reaches another).

export const API = '/api/platform/ai-management';
export const PAGE = '/platform/ai-management/features';

type SignedIn = Awaited<ReturnType<typeof signInAs>>;

export interface Prompts {
  t: TestContext;
  admin: SignedIn;
  viewer: SignedIn;
  /** An admin-scope token and the label it is recorded under. */
  token: { token: string; label: string };
  readToken: string;
  /** A feature of the test's own with a model of its own assigned (straight to the table) in every environment. */
  feature(fields?: Partial<ModelRecord>): Promise<{ feature: FeatureRecord; model: ModelRecord }>;
  /** A request to the JSON API with a bearer token (the admin's unless told). */
  api(method: 'get' | 'post', path: string, token?: string): request.Test;
  /** POST …/prompts: a version saved (201), its row as the API answers it. */
  saved(featureId: string, body: object): Promise<{ id: string; version: number }>;
  /** POST …/prompts/:version/activate; expects 201. */
  activated(featureId: string, version: number, environment: Environment): Promise<void>;
  activeVersion(featureId: string, environment: Environment): Promise<number | null>;
  page(path: string, as?: SignedIn): ReturnType<typeof getPage>;
  close(): Promise<void>;
}

/** On the shared database, or on one of the file's own (`t`) when it changes something global (an environment's policy). */
export async function openPrompts(t: TestContext = startTestApp()): Promise<Prompts> {
  const key = await makeToken(t.db, 'admin');
  const token = { token: key.token, label: `token:${key.key.name}` };
  const api = (method: 'get' | 'post', path: string, bearer = token.token) =>
    request(t.app)[method](`${API}${path}`).set('Authorization', `Bearer ${bearer}`);
  const admin = await signInAs(t, 'admin');
  return {
    t,
    admin,
    viewer: await signInAs(t, 'viewer'),
    token,
    readToken: (await makeToken(t.db, 'read')).token,
    api,
    async feature(fields = {}) {
      const feature = await makeFeature(t.db);
      const model = await makeModel(t.db, fields);
      for (const environment of ['development', 'staging', 'production'] as const)
        await makeAssignment(t.db, { feature_id: feature.id, model_id: model.id, environment });
      return { feature, model };
    },
    async saved(featureId, body) {
      const res = await api('post', `/features/${featureId}/prompts`).send(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.data.version;
    },
    async activated(featureId, version, environment) {
      const res = await api('post', `/features/${featureId}/prompts/${version}/activate`).send({ environment });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    },
    async activeVersion(featureId, environment) {
      const row = await t
        .db('prompt_activations as a')
        .join('prompt_versions as v', 'v.id', 'a.prompt_version_id')
        .where({ 'a.feature_id': featureId, 'a.environment': environment, 'a.is_active': true })
        .first('v.version');
      return row?.version ?? null;
    },
    page: (path, as = admin) => getPage(as.agent, path),
    close: () => t.close(),
  };
}

export const tabUrl = (feature: string, extra: Record<string, string> = {}) =>
  `${PAGE}?${new URLSearchParams({ feature, tab: 'prompts', ...extra })}`;
