import path from 'node:path';
import { z } from 'zod';
import { MIN_RAW_RETENTION_DAYS } from './db/retention.ts';
import { allowanceEntryProblem } from './providers/base-url.ts';

/** Settings read from the environment: the only place that reads process.env. */
export interface Settings {
  port: number;
  databaseUrl: string | undefined;
  dataDir: string;
  sessionSecret: string | undefined;
  secretsKey: Buffer | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  tzDisplay: string;
  seedDemo: boolean;
  trustProxy: boolean;
  providerTimeoutMs: number;
  /** PROVIDER_ALLOWED_PRIVATE: host names, addresses and CIDR blocks of private networks providers may be called at. */
  providerAllowedPrivate: readonly string[];
  /** How long a stopping server keeps serving with /readyz at 503 before it closes its listener. */
  shutdownDrainMs: number;
  /** RAW_RETENTION_DAYS: raw usage older than this is dropped by whole monthly partitions (rollups stay). */
  rawRetentionDays: number;
  /** EVENT_KEY_RETENTION_DAYS: how long an event id is remembered after it was received (retries within it are duplicates). */
  eventKeyRetentionDays: number;
  /** METRICS_TOKEN: the bearer token GET /metrics asks for; without it the endpoint is off. */
  metricsToken: string | undefined;
  production: boolean;
  /** NODE_ENV=development (npm run dev): templates are re-read on every render. */
  development: boolean;
}

/** What the app needs once the database and secrets are resolved. */
export interface AppConfig {
  databaseUrl: string;
  sessionSecret: string;
  secretsKey: Buffer;
  logLevel: Settings['logLevel'];
  tzDisplay: string;
  trustProxy: boolean;
  /** Compile templates once (production) instead of reading them on every render (development). */
  cacheTemplates: boolean;
  /** Idle timeout of a session, in milliseconds. */
  sessionIdleMs: number;
  /** Absolute lifetime of a session, in milliseconds. */
  sessionAbsoluteMs: number;
  /** How long a call to a provider (smoke request, probe) may take (PROVIDER_TIMEOUT_MS). */
  providerTimeoutMs: number;
  /**
   * Private, loopback and other non-public addresses providers may be called at (PROVIDER_ALLOWED_PRIVATE):
   * host names, IP addresses, CIDR blocks. None unless given; the built-in simulator needs none.
   */
  providerAllowedPrivate?: readonly string[];
  /**
   * Sign-in failures are counted in the database, shared by every instance on it; apps with another
   * scope count apart. '' in production (one deployment per database); tests give each app its own.
   */
  loginLimitScope?: string;
  /** The bearer token of GET /metrics (METRICS_TOKEN); the endpoint answers 404 without one. */
  metricsToken?: string;
  /** How long an ingest waits for a lock before it answers 503 (src/services/ingest-store.ts); 5 s unless given (tests shorten it). */
  ingestLockTimeoutMs?: number;
}

export class ConfigError extends Error {}

const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SECRETS_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (32 bytes)')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TZ_DISPLAY: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Paris').default('UTC'),
  SEED_DEMO: flag.optional(),
  TRUST_PROXY: flag.default(false),
  // Below the shutdown grace (20 s) and htmx's request timeout (60 s), so a deployment always ends.
  PROVIDER_TIMEOUT_MS: z.coerce
    .number()
    .int('must be a whole number')
    .min(100, 'must be at least 100')
    .max(15_000, 'must be at most 15000')
    .default(10_000),
  // A list, comma-separated: host names, IP addresses and CIDR blocks (e.g. 10.0.0.0/8,llm.internal).
  PROVIDER_ALLOWED_PRIVATE: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .superRefine((entries, ctx) => {
      for (const entry of entries) {
        const problem = allowanceEntryProblem(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: `entry ${problem}` });
      }
    })
    .default([]),
  SHUTDOWN_DRAIN_MS: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(60_000, 'must be at most 60000')
    .optional(),
  RAW_RETENTION_DAYS: z.coerce
    .number()
    .int('must be a whole number')
    .min(MIN_RAW_RETENTION_DAYS, `must be at least ${MIN_RAW_RETENTION_DAYS} (the longest range shown, 30 days, stays exact)`)
    .default(90),
  EVENT_KEY_RETENTION_DAYS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(3650).default(7),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  NODE_ENV: z.string().optional(),
});

/** Validates the environment once; throws ConfigError with one readable line. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  // An empty variable (`DATABASE_URL= npm start`) means unset, as in most tools.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`Invalid configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  const e = parsed.data;
  const embedded = e.DATABASE_URL === undefined;
  // Embedded mode generates its secrets into DATA_DIR; a production server on its own database must be given them.
  if (!embedded && e.NODE_ENV === 'production' && (!e.SESSION_SECRET || !e.SECRETS_KEY)) {
    throw new ConfigError('Invalid configuration: SESSION_SECRET and SECRETS_KEY are required when NODE_ENV=production');
  }
  return Object.freeze({
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    sessionSecret: e.SESSION_SECRET,
    secretsKey: e.SECRETS_KEY ? Buffer.from(e.SECRETS_KEY, 'hex') : undefined,
    logLevel: e.LOG_LEVEL,
    tzDisplay: e.TZ_DISPLAY,
    seedDemo: e.SEED_DEMO ?? embedded,
    trustProxy: e.TRUST_PROXY,
    providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
    providerAllowedPrivate: Object.freeze(e.PROVIDER_ALLOWED_PRIVATE),
    // Behind a load balancer (production, or a proxy) it needs a few seconds to notice /readyz.
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS ?? (e.NODE_ENV === 'production' || e.TRUST_PROXY ? 5000 : 0),
    rawRetentionDays: e.RAW_RETENTION_DAYS,
    eventKeyRetentionDays: e.EVENT_KEY_RETENTION_DAYS,
    metricsToken: e.METRICS_TOKEN,
    production: e.NODE_ENV === 'production',
    development: e.NODE_ENV === 'development',
  });
}

export const SESSION_IDLE_MS = 30 * 60 * 1000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
