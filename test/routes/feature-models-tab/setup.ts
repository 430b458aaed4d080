import type { CheerioAPI } from 'cheerio';
import { load } from 'cheerio';
import type request from 'supertest';
import { expect } from 'vitest';
import type { Simulator } from '../../../src/providers/simulator.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { simulatorIdOf } from '../../setup/factories.ts';
import { fragment, hx as hxHeaders, text } from '../../setup/html.ts';
import type { AssignmentRecord, DeploymentRecord, Environment, Json, ModelRecord } from '../../setup/rows.ts';
import { signInAs } from '../../setup/session.ts';

// A feature's Models tab as a browser without JavaScript and as htmx use it: its forms (change,
// promote, rollback) through the deployment pipeline, and what the tab shows. The database is shared
// with other files: every test deploys to features and simulator models of its own, and configures
// only its own model names.

export const PATH = '/platform/ai-management/features';
export const FLASH = 'Deployed to staging: every check passed and the new model serves it now.';
/** htmx's headers for a swap of the feature panel. */
export const hx = hxHeaders('section#feature-panel');
export const ALL_PASSED = [
  ['model', true],
  ['provider', true],
  ['smoke', true],
];

type SignedIn = Awaited<ReturnType<typeof signInAs>>;
type Action = 'models' | 'promote' | 'rollback';

export const tabUrl = (slug: string, environment: Environment) =>
  `${PATH}?${new URLSearchParams({ feature: slug, tab: 'models', environment })}`;

export interface ModelsTab {
  t: TestContext;
  admin: SignedIn;
  viewer: SignedIn;
  simulatorId: string;
  sim: Simulator;
  /** A form post of the tab, with `as`'s CSRF field (the admin's unless told), already confirmed (see confirm.test.ts). */
  post(slug: string, action: Action, body: Json, as?: SignedIn): request.Test;
  /** The change form: this model to this environment (staging unless told). */
  change(slug: string, model: ModelRecord, environment?: Environment): request.Test;
  /** A change that must succeed: 303 to the environment's Models tab. */
  changed(slug: string, model: ModelRecord, environment?: Environment): Promise<request.Response>;
  /** The tab for an environment as `as` sees it (the admin unless told), parsed. */
  tab(slug: string, environment: Environment, as?: SignedIn): Promise<CheerioAPI>;
  activeIds(featureId: string, environment: Environment): Promise<string[]>;
  deploymentsOf(featureId: string): Promise<DeploymentRecord[]>;
  historyOf(featureId: string, environment: Environment): Promise<AssignmentRecord[]>;
  close(): Promise<void>;
}

export async function openModelsTab(): Promise<ModelsTab> {
  const t = startTestApp();
  const admin = await signInAs(t, 'admin');
  const post = (slug: string, action: Action, body: Json, as = admin) =>
    as.agent
      .post(`${PATH}/${slug}/${action}`)
      .type('form')
      .send({ _csrf: as.csrf, confirm: 'yes', ...body });
  const change = (slug: string, model: ModelRecord, environment: Environment = 'staging') =>
    post(slug, 'models', { model_id: model.id, environment });
  return {
    t,
    admin,
    viewer: await signInAs(t, 'viewer'),
    simulatorId: await simulatorIdOf(t.db),
    sim: await t.app.providers.simulator(),
    post,
    change,
    async changed(slug, model, environment = 'staging') {
      const res = await change(slug, model, environment);
      expect(res.status, text(load(res.text)('#deployment-result, #error'))).toBe(303);
      expect(res.headers.location).toBe(tabUrl(slug, environment));
      return res;
    },
    tab: async (slug, environment, as = admin) => load((await as.agent.get(tabUrl(slug, environment)).expect(200)).text),
    activeIds: async (featureId, environment) =>
      (await t.db('feature_model_assignments').where({ feature_id: featureId, environment, is_active: true }).select('model_id')).map(
        (r: { model_id: string }) => r.model_id,
      ),
    deploymentsOf: (featureId) => t.db('deployments').where({ feature_id: featureId }).orderBy('started_at'),
    historyOf: (featureId, environment) =>
      t.db('feature_model_assignments').where({ feature_id: featureId, environment }).orderBy('assigned_at'),
    close: () => t.close(),
  };
}

export const checksOf = (d: DeploymentRecord) => d.checks.map((c) => [c.name, c.ok]);

/** The checks #deployment-result lists: name, passed, detail. */
export const listedChecks = ($: CheerioAPI) =>
  $('#deployment-result ol.checks li')
    .toArray()
    .map((li) => [$(li).find('strong').text(), $(li).hasClass('tone-good'), text($(li)).replace(/^\w+: /, '')]);

/** An htmx answer for the panel: no shell, #feature-panel alone. */
export const panelFragment = (html: string) => fragment(html, 'feature-panel');
