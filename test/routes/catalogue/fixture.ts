import type { Db } from '../../../src/db/knex.ts';
import { apiKey, makeAssignment, makeFeature, makeModel, makeProvider, suffix } from '../../setup/factories.ts';
import type { FeatureRecord, ModelRecord, NewRow, ProviderRecord } from '../../setup/rows.ts';
import { DAY, HOUR, insertUsage, MINUTE, modelRef, type UsageEvent } from '../../setup/usage-factory.ts';

// The catalogue pages' fixture: providers and models of the file's own with a day of traffic.
//   Acme (active, keyed): Zephyr Alpha, Zephyr Beta, Quill (beta), Nimbus (deprecated, no traffic),
//     Orca (offline, traffic only outside the last 24 h); Zephyr Alpha serves a feature in production.
//   Cobalt (active, keyed): one model with slow, partly failing traffic.
//   Bolt (inactive, no key, no traffic).

export interface Fixture {
  acme: ProviderRecord;
  cobalt: ProviderRecord;
  bolt: ProviderRecord;
  models: Record<'alpha' | 'beta' | 'quill' | 'nimbus' | 'orca' | 'cobaltLarge', ModelRecord>;
  feature: FeatureRecord;
}

async function seedCatalogue(db: Db): Promise<Fixture> {
  const acme = await makeProvider(db, { name: 'acme', display_name: 'Acme AI', status: 'active', key: apiKey() });
  const cobalt = await makeProvider(db, { name: 'cobalt', display_name: 'Cobalt Labs', status: 'active', key: apiKey() });
  const bolt = await makeProvider(db, { name: 'bolt', display_name: 'Bolt Inference', status: 'inactive' });
  const model = (provider: ProviderRecord, fields: Partial<ModelRecord>) => makeModel(db, { provider_id: provider.id, ...fields });
  const models = {
    alpha: await model(acme, { name: 'zephyr-alpha-v2', display_name: 'Zephyr Alpha', input_price_per_1k: 0.5, output_price_per_1k: 1 }),
    beta: await model(acme, { name: 'zephyr-beta-v1', display_name: 'Zephyr Beta', input_price_per_1k: 2, output_price_per_1k: 4 }),
    quill: await model(acme, {
      name: 'acme/ql-7b',
      display_name: 'Quill',
      status: 'beta',
      input_price_per_1k: 0.1,
      output_price_per_1k: 0.2,
    }),
    nimbus: await model(acme, {
      name: 'nimbus-embed',
      display_name: 'Nimbus',
      status: 'deprecated',
      model_type: 'embedding',
      input_price_per_1k: 0.3,
      output_price_per_1k: 0,
    }),
    orca: await model(acme, {
      name: 'orca-vision',
      display_name: 'Orca',
      status: 'offline',
      model_type: 'vision',
      input_price_per_1k: 1,
      output_price_per_1k: 1,
    }),
    cobaltLarge: await model(cobalt, {
      name: 'cobalt-large',
      display_name: 'Cobalt Large',
      input_price_per_1k: 0.25,
      output_price_per_1k: 0.5,
    }),
  };
  const feature = await makeFeature(db, { display_name: `Support bot ${suffix()}` });
  await makeAssignment(db, { feature_id: feature.id, model_id: models.alpha.id, environment: 'production' });
  return { acme, cobalt, bolt, models, feature };
}

/** Every event in a minute of its own (except where said), well inside the 24 h window. */
function trafficOf({ acme, cobalt, models, feature }: Fixture): UsageEvent[] {
  const now = Date.now();
  let minute = 5;
  const at = (minutesAgo?: number) => {
    if (minutesAgo === undefined) minute += 7;
    const m = minutesAgo ?? minute;
    return new Date(Math.floor((now - m * MINUTE) / MINUTE) * MINUTE + 20_000);
  };
  const ev = (m: ModelRecord, p: ProviderRecord, extra: Partial<UsageEvent> = {}): UsageEvent => ({
    feature_id: feature.id,
    model: modelRef(m, p),
    created_at: at(),
    ...extra,
  });
  const events: UsageEvent[] = [];
  for (let i = 0; i < 6; i++) events.push(ev(models.alpha, acme, { response_time_ms: 300 }));
  for (let i = 0; i < 3; i++) events.push(ev(models.beta, acme, { response_time_ms: 800 }));
  for (let i = 0; i < 8; i++)
    events.push(ev(models.quill, acme, { response_time_ms: 100, status: i === 2 ? 'error' : i === 5 ? 'timeout' : 'success' }));
  // Orca: inside this month but outside the last 24 h (when the month is old enough), and before the month.
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  events.push(ev(models.orca, acme, { created_at: new Date(monthStart - HOUR), input_tokens: 1000, output_tokens: 1000 }));
  if (now - monthStart > 26 * HOUR)
    events.push(ev(models.orca, acme, { created_at: new Date(monthStart + MINUTE), input_tokens: 500, output_tokens: 500 }));
  events.push(ev(models.alpha, acme, { created_at: new Date(now - 2 * DAY - 3 * HOUR), response_time_ms: 9000, status: 'error' }));
  // Cobalt: slow, partly failing; three events share one minute (one of them failed: a bad minute).
  const shared = at(600);
  for (let i = 0; i < 10; i++) {
    events.push(
      ev(models.cobaltLarge, cobalt, {
        response_time_ms: 2000 + i * 400,
        status: i === 1 || i === 4 ? 'error' : i === 7 ? 'timeout' : 'success',
        ...(i < 3 && { created_at: new Date(shared.getTime() + i * 1000) }),
      }),
    );
  }
  return events;
}

/** The providers and models above, and their traffic. */
export async function seedFixture(db: Db): Promise<Fixture> {
  const fx = await seedCatalogue(db);
  await insertUsage(db, trafficOf(fx));
  return fx;
}

/**
 * A deployment history of 34 deployments of Zephyr Beta over 10 days (more than a page of 25),
 * spread over two features of their own, the three environments and four statuses.
 */
export async function seedDeploymentHistory(db: Db, fx: Fixture): Promise<{ dfA: FeatureRecord; dfB: FeatureRecord }> {
  const dfA = await makeFeature(db, { display_name: `Deploy A ${suffix()}` });
  const dfB = await makeFeature(db, { display_name: `Deploy B ${suffix()}` });
  const assignment = await makeAssignment(db, {
    feature_id: dfA.id,
    model_id: fx.models.beta.id,
    environment: 'development',
    is_active: false,
  });
  const envs = ['development', 'staging', 'production'] as const;
  const statuses = ['success', 'failed', 'rolled_back', 'failed'] as const;
  const base = Date.now() - 10 * DAY;
  const rows: NewRow<'deployments'>[] = [];
  for (let i = 0; i < 34; i++) {
    const status = statuses[i % 4];
    rows.push({
      feature_id: i % 5 === 0 ? dfB.id : dfA.id,
      model_id: fx.models.beta.id,
      environment: envs[i % 3],
      kind: 'assign',
      status,
      requested_by: 'seed',
      assignment_id: status === 'success' ? assignment.id : null,
      started_at: new Date(base + i * HOUR),
      finished_at: new Date(base + i * HOUR + MINUTE),
      error: status === 'failed' ? 'smoke request failed' : null,
    });
  }
  await db('deployments').insert(rows);
  return { dfA, dfB };
}
