import compression from 'compression';
import express, { type Express } from 'express';
import { createPassport } from './auth/passport.ts';
import { createSessions } from './auth/session.ts';
import type { AppConfig } from './config.ts';
import type { Db } from './db/knex.ts';
import { createFormat } from './format.ts';
import { Readiness } from './http/readiness.ts';
import { createTelemetry, httpTiming, metricsRoute, type Telemetry } from './http/telemetry.ts';
import { BASE, PREFIX } from './http/urls.ts';
import { createLogger, type Logger } from './logger.ts';
import { alertNav } from './middleware/alert-nav.ts';
import { identify, requireAuth } from './middleware/auth.ts';
import { csrfProtection, loginCsrf } from './middleware/csrf.ts';
import { errorHandler, notFoundHandler } from './middleware/errors.ts';
import { htmx } from './middleware/htmx.ts';
import { baseLocals, sessionLocals } from './middleware/locals.ts';
import { noStore } from './middleware/no-store.ts';
import { requestLog } from './middleware/request-log.ts';
import { sameOriginWrites } from './middleware/same-origin.ts';
import { securityHeaders } from './middleware/security-headers.ts';
import { createProviders, type Providers } from './providers/index.ts';
import { alertRoutes } from './routes/alerts.ts';
import { alertApiRoutes } from './routes/api/alerts.ts';
import { assignmentApiRoutes } from './routes/api/assignments.ts';
import { catalogueApiRoutes } from './routes/api/catalogue.ts';
import { changeRequestApiRoutes } from './routes/api/change-requests.ts';
import { deploymentApiRoutes } from './routes/api/deployments.ts';
import { featureApiRoutes } from './routes/api/features.ts';
import { pinnedPromptRoutes, promptApiRoutes } from './routes/api/prompts.ts';
import { rolloutApiRoutes } from './routes/api/rollouts.ts';
import { runtimeConfigRoutes } from './routes/api/runtime-config.ts';
import { simulatorApiRoutes } from './routes/api/simulator.ts';
import { testCaseApiRoutes } from './routes/api/test-cases.ts';
import { testingApiRoutes } from './routes/api/testing.ts';
import { usageApiRoutes } from './routes/api/usage.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { approvalRoutes } from './routes/approvals.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { deploymentRoutes } from './routes/deployments.ts';
import type { RouteDeps } from './routes/deps.ts';
import { featureRoutes } from './routes/features.ts';
import { healthRoutes } from './routes/health.ts';
import { modelPageRoutes } from './routes/model-pages.ts';
import { overviewRoutes } from './routes/overview.ts';
import { providerRoutes } from './routes/providers.ts';
import { rolloutRoutes } from './routes/rollouts.ts';
import { staticRoutes } from './routes/static.ts';
import { storedBehaviours } from './services/simulator-settings.ts';
import { createEta } from './views.ts';

export interface AppDeps {
  db: Db;
  config: AppConfig;
  logger?: Logger;
  /** The provider adapters (and the simulator); made from the config when not given. */
  providers?: Providers;
}

export type App = Express & { providers: Providers; readiness: Readiness; telemetry: Telemetry; close(): Promise<void> };

/** Builds the app; never listens (tests import it). `close()` releases the session store's pool and the providers. */
export function createApp({ db, config, logger = createLogger(config.logLevel), providers = providersFor(config, db) }: AppDeps): App {
  const app = express() as App;
  const fmt = createFormat(config.tzDisplay);
  const passport = createPassport(db);
  const sessions = createSessions({
    databaseUrl: config.databaseUrl,
    secret: config.sessionSecret,
    idleMs: config.sessionIdleMs,
    onPoolError: (err) => logger.error({ err }, 'session store: a database connection failed'),
  });
  app.providers = providers;
  app.telemetry = createTelemetry(db);
  app.close = async () => {
    await sessions.close();
    await providers.close();
  };

  app.locals.eta = createEta(config.cacheTemplates);
  app.disable('x-powered-by');
  app.set('case sensitive routing', true);
  // Answers built by res.send are no-store (middleware/no-store.ts) and get no ETag; files sent from disk keep theirs.
  app.set('etag', () => undefined);
  app.set('trust proxy', config.trustProxy ? 1 : false);

  app.use(requestLog(logger));
  app.use(httpTiming(app.telemetry));
  app.use(securityHeaders);
  app.use(compression());
  app.use(baseLocals(fmt));
  app.use(htmx);
  app.use(staticRoutes());
  app.readiness = new Readiness();
  app.use(healthRoutes(db, app.readiness));
  app.use(metricsRoute(app.telemetry, config.metricsToken));
  app.use(noStore);

  app.use(sessions.middleware);
  app.use(loginCsrf(config.sessionSecret));
  app.use(passport.session());
  app.use(identify(db, config.sessionAbsoluteMs));
  app.use(sameOriginWrites);
  app.use(sessionLocals);

  app.get('/', (_req, res) => res.redirect(303, BASE));
  app.use(
    authRoutes(passport, express.urlencoded({ extended: false, limit: '10kb' }), {
      db,
      secret: config.sessionSecret,
      scope: config.loginLimitScope ?? '',
    }),
  );
  app.use(requireAuth);
  app.use(alertNav(db));
  // Bodies are parsed only for callers who are signed in or hold a token.
  // Forms carry prompt templates of up to 100 kB (issue 15), URL-encoded: as much room as JSON bodies.
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));
  app.use(express.json({ limit: '1mb' }));
  app.use(csrfProtection);

  mountRoutes(app, {
    db,
    providers,
    timeZone: config.tzDisplay,
    telemetry: app.telemetry,
    ingestLockTimeoutMs: config.ingestLockTimeoutMs,
  });
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

/** The URL map: every router under its prefix (src/http/urls.ts). */
function mountRoutes(app: Express, deps: RouteDeps): void {
  // The product's API (tokens): usage in, runtime config out.
  app.use('/api/v1', usageApiRoutes(deps), runtimeConfigRoutes(deps), pinnedPromptRoutes(deps));
  // The console's JSON API (SPEC §6).
  app.use(
    PREFIX.api,
    featureApiRoutes(deps),
    assignmentApiRoutes(deps),
    deploymentApiRoutes(deps),
    changeRequestApiRoutes(deps),
    promptApiRoutes(deps),
    catalogueApiRoutes(deps),
    simulatorApiRoutes(deps),
    testingApiRoutes(deps),
    rolloutApiRoutes(deps),
    alertApiRoutes(deps),
    testCaseApiRoutes(deps),
  );
  // The console's pages.
  app.use(PREFIX.features, featureRoutes(deps));
  app.use(PREFIX.models, catalogueRoutes(deps), modelPageRoutes(deps));
  app.use(PREFIX.providers, providerRoutes(deps));
  app.use(PREFIX.deployments, deploymentRoutes(deps));
  app.use(PREFIX.approvals, approvalRoutes(deps));
  app.use(PREFIX.rollouts, rolloutRoutes(deps));
  app.use(PREFIX.audit, auditRoutes(deps));
  app.use(PREFIX.apiKeys, apiKeyRoutes(deps));
  app.use(PREFIX.alerts, alertRoutes(deps));
  app.use(BASE, overviewRoutes(deps));
}

const providersFor = (config: AppConfig, db: Db) =>
  createProviders({
    secretsKey: config.secretsKey,
    timeoutMs: config.providerTimeoutMs,
    allowedPrivate: config.providerAllowedPrivate,
    behaviours: () => storedBehaviours(db),
  });
