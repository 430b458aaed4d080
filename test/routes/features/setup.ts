import type { CheerioAPI } from 'cheerio';
import type { Db } from '../../../src/db/knex.ts';
import type { FeatureRow } from '../../../src/db/queries/features.ts';
import { startTestApp, type TestContext } from '../../setup/app.ts';
import { makeAssignment, makeFeature, suffix } from '../../setup/factories.ts';
import { getPage } from '../../setup/html.ts';
import { signInAs } from '../../setup/session.ts';
import { DAY, insertUsage, MINUTE, type ModelRef, modelsByName, type UsageEvent } from '../../setup/usage-factory.ts';

// The features page (/platform/ai-management/features) and the overview as their test files share
// them. The database is shared with other files: every assertion is about features a test creates.

export const PATH = '/platform/ai-management/features';
export const OVERVIEW = '/platform/ai-management';

type SignedIn = Awaited<ReturnType<typeof signInAs>>;

export interface Features {
  t: TestContext;
  admin: SignedIn;
  viewer: SignedIn;
  /** Two models of the reference data the usage is reported against. */
  mini: ModelRef;
  sonnet: ModelRef;
  /** A page as `as` sees it (the admin unless told): 200, varying by HX-Request, parsed. */
  page(path: string, as?: SignedIn): Promise<CheerioAPI>;
  close(): Promise<void>;
}

/** The app on the shared test database, or on `db` (a database of a test file's own). */
export async function openFeatures(db?: Db): Promise<Features> {
  const t = startTestApp({}, db);
  const admin = await signInAs(t, 'admin');
  const models = await modelsByName(t.db);
  return {
    t,
    admin,
    viewer: await signInAs(t, 'viewer'),
    mini: models.get('gpt-4o-mini')!,
    sonnet: models.get('claude-3-5-sonnet-20241022')!,
    page: (path, as = admin) => getPage(as.agent, path),
    close: () => t.close(),
  };
}

export const featuresUrl = (params: Record<string, string>) => `${PATH}?${new URLSearchParams(params)}`;
export const ago = (ms: number) => new Date(Date.now() - ms);

/** A request of feature `f` to `model`, `minutesAgo` minutes ago. */
export const use = (f: { id: string }, model: ModelRef, minutesAgo: number, extra: Partial<UsageEvent> = {}): UsageEvent => ({
  feature_id: f.id,
  model,
  created_at: ago(minutesAgo * MINUTE),
  ...extra,
});

export const featureRow = async (t: TestContext, id: string): Promise<FeatureRow> => (await t.db('ai_features').where({ id }).first())!;

/** A feature with usage spread over 30 days, a model change (mini → sonnet) 90 minutes ago and its assignments. */
export async function seededFeature({ t, mini, sonnet }: Features) {
  const f = await makeFeature(t.db, { display_name: `Overview ${suffix()}` });
  await insertUsage(t.db, [
    use(f, mini, 30, { response_time_ms: 300, end_user_id: 'u1' }),
    use(f, sonnet, 180, { response_time_ms: 900, end_user_id: 'u2', input_tokens: 1000, output_tokens: 500 }),
    use(f, mini, 181, { status: 'error', response_time_ms: 1500, end_user_id: 'u1' }),
    use(f, mini, 300, { response_time_ms: 200, end_user_id: 'u3' }),
    use(f, mini, 40 * 60, { response_time_ms: 100 }),
    use(f, sonnet, 10 * 24 * 60, { response_time_ms: 100 }),
  ]);
  const finished = ago(90 * MINUTE);
  await makeAssignment(t.db, {
    feature_id: f.id,
    model_id: mini.id,
    is_active: false,
    assigned_at: ago(3 * DAY),
    deactivated_at: finished,
  });
  const current = await makeAssignment(t.db, { feature_id: f.id, model_id: sonnet.id, assigned_at: finished });
  await t.db('deployments').insert({
    feature_id: f.id,
    environment: 'production',
    model_id: sonnet.id,
    previous_model_id: mini.id,
    kind: 'assign',
    status: 'success',
    requested_by: 'test',
    assignment_id: current.id,
    started_at: new Date(finished.getTime() - MINUTE),
    finished_at: finished,
  });
  return { f: await featureRow(t, f.id), finished };
}
