/**
 * Whether an error means "the database cannot be reached right now" (a restart, a failover, a full
 * pool) rather than a fault of this request or of the code: such requests are answered 503 with
 * Retry-After, so callers (the product's ingestion client above all) try again instead of giving up.
 */

/** Seconds a client is asked to wait before trying again. */
export const DATABASE_RETRY_AFTER_S = 5;

export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is unavailable; try again in a few seconds';

// The socket could not be opened or was lost: the server is down, restarting or unreachable.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

// SQLSTATE: admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down,
// recovering, read-only standby being promoted), too_many_connections.
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

// SQLSTATE of a transaction that failed as a whole and may simply be sent again: deadlock_detected
// and serialization_failure (retry-safe), lock_not_available (a lock_timeout ran out),
// read_only_sql_transaction (a standby not yet promoted), query_canceled (statement_timeout, a cancel).
const RETRY_CODES = new Set(['40P01', '40001', '55P03', '25006', '57014']);

// What pg throws, without a code, when the server goes away under an open connection.
const LOST_CONNECTION = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];

function codeOf(err: object): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  // knex: "Knex: Timeout acquiring a connection. The pool is probably full."
  if ((err as { name?: unknown }).name === 'KnexTimeoutError') return true;
  const code = codeOf(err);
  if (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || RETRY_CODES.has(code) || code.startsWith('08')) return true;
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string' && LOST_CONNECTION.some((m) => message.includes(m))) return true;
  // A host name with several addresses fails as an AggregateError of one error per address.
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0 && inner.every((e) => isDatabaseUnavailable(e, depth + 1));
}
