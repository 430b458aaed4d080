import crypto from 'node:crypto';
import compression from 'compression';
import connectPgSimple from 'connect-pg-simple';
import express, { type Express } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { createPassport } from './auth/passport.ts';
import type { AppConfig } from './config.ts';
import type { Db } from './db/knex.ts';
import { createFormat } from './format.ts';
import { Readiness } from './http/readiness.ts';
import { createLogger, type Logger } from './logger.ts';
import { identify, requireAuth } from './middleware/auth.ts';
import { csrfProtection } from './middleware/csrf.ts';
import { errorHandler, notFoundHandler } from './middleware/errors.ts';
import { htmx } from './middleware/htmx.ts';
import { baseLocals, sessionLocals } from './middleware/locals.ts';
import { createProviders } from './providers/index.ts';
import { assignmentApiRoutes } from './routes/api/assignments.ts';
import { catalogueApiRoutes } from './routes/api/catalogue.ts';
import { featureApiRoutes } from './routes/api/features.ts';
import { runtimeConfigRoutes } from './routes/api/runtime-config.ts';
import { usageApiRoutes } from './routes/api/usage.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { deploymentRoutes } from './routes/deployments.ts';
import { featureRoutes } from './routes/features.ts';
import { healthRoutes } from './routes/health.ts';
import { modelFormRoutes } from './routes/model-forms.ts';
import { modelPageRoutes } from './routes/model-pages.ts';
import { overviewRoutes } from './routes/overview.ts';
import { providerRoutes } from './routes/providers.ts';
import { staticRoutes } from './routes/static.ts';
import { createEta } from './views.ts';

export interface AppDeps {
  db: Db;
  config: AppConfig;
  logger?: Logger;
}

export type App = Express & { close(): Promise<void>; readiness: Readiness };

/** Builds the app; never listens (tests import it). `close()` releases the session store's pool. */
export function createApp({ db, config, logger = createLogger(config.logLevel) }: AppDeps): App {
  const app = express() as App;
  const fmt = createFormat(config.tzDisplay);
  const passport = createPassport(db);
  const PgStore = connectPgSimple(session);
  const store = new PgStore({
    conString: config.databaseUrl,
    tableName: 'sessions',
    createTableIfMissing: false,
    // A database restart makes its idle connections fail: a line in the log, not a dump on stderr.
    errorLog: (message: string, err?: Error) => logger.warn({ error: err?.message }, message),
  });
  const providers = createProviders({ secretsKey: config.secretsKey, timeoutMs: config.providerTimeoutMs ?? 10_000 });
  app.locals.providers = providers;
  app.close = async () => {
    await store.close();
    await providers.close();
  };

  app.locals.eta = createEta(config.cacheTemplates);
  app.disable('x-powered-by');
  app.set('case sensitive routing', true);
  app.set('trust proxy', config.trustProxy ? 1 : false);

  app.use(
    pinoHttp({
      logger,
      genReqId: (_req, res) => {
        const id = crypto.randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customProps: (req) => ({ user: req.principal?.label }),
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: req.url?.split('?')[0] }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use((req, _res, next) => {
    req.correlationId = String(req.id);
    next();
  });
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
        },
      },
    }),
  );
  app.use(compression());
  app.use(baseLocals(fmt));
  app.use(htmx);
  app.use(staticRoutes());
  app.readiness = new Readiness();
  app.use(healthRoutes(db, app.readiness));

  app.use(
    session({
      store,
      name: 'sb.sid',
      secret: config.sessionSecret,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      proxy: config.trustProxy,
      cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: config.sessionIdleMs },
    }),
  );
  app.use(passport.session());
  app.use(identify(db, config.sessionAbsoluteMs));
  app.use(sessionLocals);

  app.get('/', (_req, res) => res.redirect(303, '/platform/ai-management'));
  app.use(authRoutes(passport, express.urlencoded({ extended: false, limit: '10kb' })));
  app.use(requireAuth);
  // Bodies are parsed only for callers who are signed in or hold a token.
  app.use(express.urlencoded({ extended: false, limit: '100kb' }));
  app.use(express.json({ limit: '1mb' }));
  app.use(csrfProtection);
  app.use(
    '/api',
    featureApiRoutes(db, config.tzDisplay),
    assignmentApiRoutes(db, providers),
    catalogueApiRoutes(db, providers),
    usageApiRoutes(db),
    runtimeConfigRoutes(db),
  );
  app.use(overviewRoutes(db));
  app.use(featureRoutes(db, config.tzDisplay, providers));
  app.use(modelPageRoutes(db, config.tzDisplay));
  app.use(catalogueRoutes(db, providers));
  app.use(modelFormRoutes(db, providers));
  app.use(providerRoutes(db, providers));
  app.use(auditRoutes(db));
  app.use(deploymentRoutes(db));
  app.use(apiKeyRoutes(db));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
