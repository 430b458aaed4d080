import type * as cheerio from 'cheerio';
import request from 'supertest';
import { expect } from 'vitest';
import type { Db } from '../../../src/db/knex.ts';
import type { Simulator } from '../../../src/providers/simulator.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { apiKey, makeToken, simulatorIdOf, suffix } from '../../setup/factories.ts';
import { getPage, text } from '../../setup/html.ts';
import type { AuditRecord, Json } from '../../setup/rows.ts';
import { catalogueSnapshot, ownSeededDatabase } from '../../setup/scratch-db.ts';
import { signInAs } from '../../setup/session.ts';

// The catalogue (issue 6: providers and models, SPEC §3, §4, §6, §7) as its test files share it. Each
// file runs on a database of its own (migrated, reference data seeded), so totals over whole tables
// ("nothing written", the Providers tab's stats) hold while other files run.

export const CATALOGUE = '/platform/ai-management/models';
export const PROVIDERS = '/platform/ai-management/providers';
export const API = '/api/platform/ai-management';

type SignedIn = Awaited<ReturnType<typeof signInAs>>;

export interface Catalogue {
  t: TestContext;
  db: Db;
  admin: SignedIn;
  viewer: SignedIn;
  /** An admin-scope API token and the label the audit log gives it. */
  adminToken: { token: string; label: string };
  readToken: string;
  simulatorId: string;
  sim: Simulator;
  /** A page as `as` sees it: 200, parsed. */
  page(path: string, as?: SignedIn): Promise<cheerio.CheerioAPI>;
  /** A form post as a browser without JavaScript sends it, with `as`'s CSRF token unless told (null: none). */
  postForm(path: string, body: Json, as?: SignedIn, csrf?: string | null): request.Test;
  /** A JSON API call with a bearer token (the admin's unless told; null: none). */
  api(method: 'get' | 'post' | 'patch', path: string, body?: unknown, token?: string | null): request.Test;
  /** Everything a refused change must leave alone, over whole tables. */
  snapshot(): ReturnType<typeof catalogueSnapshot>;
  /** The audit entries of an entity, oldest first. */
  auditFor(entityType: string, entityId: string): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** The app on a database of the file's own, an admin and a viewer signed in, an admin and a read token. */
export async function openCatalogue(label: string): Promise<Catalogue> {
  const own = await ownSeededDatabase(label);
  const t = startTestApp({ databaseUrl: own.url }, own.db);
  const key = await makeToken(t.db, 'admin');
  const admin = await signInAs(t, 'admin');
  return {
    t,
    db: t.db,
    admin,
    viewer: await signInAs(t, 'viewer'),
    adminToken: { token: key.token, label: `token:${key.key.name}` },
    readToken: (await makeToken(t.db, 'read')).token,
    simulatorId: await simulatorIdOf(t.db),
    sim: await t.app.providers.simulator(),
    page: (path, as = admin) => getPage(as.agent, path),
    postForm: (path, body, as = admin, csrf = as.csrf) =>
      as.agent
        .post(path)
        .type('form')
        .send({ ...(csrf !== null && { _csrf: csrf }), ...body }),
    api(method, path, body, token = key.token) {
      let r = request(t.app)[method](`${API}${path}`);
      if (token) r = r.set('Authorization', `Bearer ${token}`);
      return body === undefined ? r : r.send(body as object);
    },
    snapshot: () => catalogueSnapshot(t.db),
    auditFor: (entityType, entityId) => t.db('audit_log').where({ entity_type: entityType, entity_id: entityId }).orderBy('id'),
    async close() {
      await t.close();
      await own.drop();
    },
  };
}

export const catalogueUrl = (params: Record<string, string>) => `${CATALOGUE}?${new URLSearchParams(params)}`;

/** The model cards in the order shown. */
export const cardOrder = ($: cheerio.CheerioAPI) =>
  $('#model-cards li.model-card')
    .toArray()
    .map((li) => $(li).attr('data-model'));

function factsOf($: cheerio.CheerioAPI, selector: string, name: string): Record<string, string> {
  const card = $(selector);
  expect(card.length, `card of ${name}`).toBe(1);
  return Object.fromEntries(
    card
      .find('dl.facts > div')
      .toArray()
      .map((d) => [text($(d).find('dt')), text($(d).find('dd'))]),
  );
}

/** A model card's facts by their labels. */
export const modelFacts = ($: cheerio.CheerioAPI, name: string) => factsOf($, `#model-cards li.model-card[data-model="${name}"]`, name);
/** A provider card's facts by their labels. */
export const providerFacts = ($: cheerio.CheerioAPI, name: string) =>
  factsOf($, `#provider-cards li.provider-card[data-provider="${name}"]`, name);

/** A 422 from the JSON API naming exactly `field`. */
export function expectInvalid(res: request.Response, field: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.success).toBe(false);
  expect(typeof res.body.error).toBe('string');
  expect(Object.keys(res.body.details ?? {}), JSON.stringify(res.body)).toEqual([field]);
  expect(typeof res.body.details[field]).toBe('string');
  expect(res.body.details[field].length).toBeGreaterThan(0);
}

/** How a stored key is shown back: •••• and its last 4 characters. */
export const hintOf = (key: string) => `••••${key.slice(-4)}`;

/** A valid POST /providers body: an active OpenAI-compatible provider with a key, of a slug of its own. */
export const validProvider = (fields: Json = {}): Json => ({
  name: `acme-${suffix()}`,
  display_name: 'Acme AI',
  kind: 'openai-compatible',
  base_url: 'https://api.acme.example/v1',
  api_key: apiKey(),
  status: 'active',
  ...fields,
});
