import { type CheerioAPI, load } from 'cheerio';
import request from 'supertest';
import type { AppConfig } from '../../../src/config.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, makeModel, makeToken } from '../../setup/factories.ts';
import { hx as hxHeaders, text } from '../../setup/html.ts';
import type { AuditRecord, FeatureRecord, Json } from '../../setup/rows.ts';
import { signInAs } from '../../setup/session.ts';

// A feature's Settings tab (its settings form and kill switch) and what they change: the feature's
// row, its audit entries, the runtime config. The database is shared with other files: every test
// works on features, models and tokens of its own.

export const PATH = '/platform/ai-management/features';
export const API = '/api/platform/ai-management/features';
/** htmx's headers for a swap of the feature panel. */
export const hx = hxHeaders('section#feature-panel');

type SignedIn = Awaited<ReturnType<typeof signInAs>>;

export const settingsUrl = (slug: string) => `${PATH}?${new URLSearchParams({ feature: slug, tab: 'settings' })}`;

/** Everything the settings form posts, as stored for a new feature (the factory's defaults). */
export const DEFAULT_FORM = {
  display_name: 'Test feature',
  description: '',
  required_model_type: 'llm',
  error_rate_threshold: '5',
  latency_threshold_ms: '2000',
  monthly_budget_usd: '',
  over_budget_action: 'notify',
  min_eval_pass_rate: '',
};

export interface SettingsTab {
  t: TestContext;
  admin: SignedIn;
  viewer: SignedIn;
  /** A form post to the tab, with `as`'s CSRF field (the admin's unless told). */
  post(slug: string, body: Json, as?: SignedIn): request.Test;
  /** The tab as `as` sees it (the admin unless told), parsed. */
  tab(slug: string, as?: SignedIn): Promise<CheerioAPI>;
  feature(id: string): Promise<FeatureRecord>;
  audits(featureId: string): Promise<Pick<AuditRecord, 'action' | 'actor_type' | 'actor_label' | 'before' | 'after'>[]>;
  /** The runtime config as a token sees it. */
  config(slug: string, token: string, environment?: string, etag?: string): request.Test;
  /** A feature with a model of its type serving production. */
  serving(): Promise<{ f: FeatureRecord; modelName: string }>;
  token(scope?: 'read' | 'ingest' | 'admin'): Promise<{ token: string; name: string }>;
  close(): Promise<void>;
}

export async function openSettingsTab(config: Partial<AppConfig> = {}): Promise<SettingsTab> {
  const t = startTestApp(config);
  const admin = await signInAs(t, 'admin');
  return {
    t,
    admin,
    viewer: await signInAs(t, 'viewer'),
    post: (slug, body, as = admin) =>
      as.agent
        .post(`${PATH}/${slug}/settings`)
        .type('form')
        .send({ _csrf: as.csrf, ...body }),
    tab: async (slug, as = admin) => load((await as.agent.get(settingsUrl(slug)).expect(200)).text),
    feature: async (id) => (await t.db('ai_features').where({ id }).first())!,
    audits: (featureId) =>
      t
        .db('audit_log')
        .where({ entity_type: 'feature', entity_id: featureId })
        .orderBy('id')
        .select('action', 'actor_type', 'actor_label', 'before', 'after'),
    config(slug, token, environment = 'production', etag) {
      const req = request(t.app).get(`/api/v1/features/${slug}/config?environment=${environment}`).set('Authorization', `Bearer ${token}`);
      if (etag) req.set('If-None-Match', etag);
      return req;
    },
    async serving() {
      const f = await makeFeature(t.db);
      const model = await makeModel(t.db);
      await makeAssignment(t.db, { feature_id: f.id, model_id: model.id, environment: 'production' });
      return { f, modelName: model.display_name };
    },
    async token(scope = 'read') {
      const made = await makeToken(t.db, scope);
      return { token: made.token, name: made.key.name };
    },
    close: () => t.close(),
  };
}

/** The message shown on a field of the tab's forms, and whether the field is marked invalid. */
export const fieldError = ($: CheerioAPI, name: string) => ({
  message: text($(`#settings-${name}-error`)),
  invalid: $(`[name="${name}"]#settings-${name}`).attr('aria-invalid') === 'true',
});
