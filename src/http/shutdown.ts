import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import type { Readiness } from './readiness.ts';

/** After the drain, how long requests still running may take before the process gives up on them. */
export const SHUTDOWN_GRACE_MS = 20_000;

export interface ShutdownOptions {
  server: Server;
  readiness: Readiness;
  logger: Logger;
  /** How long to keep serving, not ready, so load balancers see /readyz fail and stop sending (SHUTDOWN_DRAIN_MS). */
  drainMs: number;
  /** Releases what the server held once the listener is closed: jobs, the app, the database. */
  release: () => Promise<void>;
  exit?: (code: number) => void;
  graceMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A graceful stop, returned as the function to call on SIGTERM (or SIGINT): readiness answers 503
 * at once; the server keeps serving for the drain delay, every response telling its client to close
 * the connection; then the listener closes, requests in flight finish, idle keep-alive sockets are
 * closed, and `release` runs before the process exits 0. Past the grace period it exits 1.
 * Call it right after `listen` so that requests in flight when it fires can be told to close too.
 */
export function gracefulShutdown(o: ShutdownOptions): (signal: string) => Promise<void> {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const inFlight = new Set<ServerResponse>();
  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  // First in line, so it runs before the app answers.
  o.server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (o.readiness.stopping) return closeAfter(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });

  let stopping: Promise<void> | undefined;
  const stop = async (signal: string) => {
    o.readiness.beginStopping();
    inFlight.forEach(closeAfter);
    o.logger.info({ signal, drainMs: o.drainMs }, 'shutting down: not ready, draining');
    setTimeout(
      () => {
        o.logger.error({ inFlight: inFlight.size }, 'shutdown took too long; exiting');
        exit(1);
      },
      o.drainMs + (o.graceMs ?? SHUTDOWN_GRACE_MS),
    ).unref();
    if (o.drainMs > 0) await sleep(o.drainMs);
    // Sockets that finish a response while the listener closes would otherwise sit idle until the
    // keep-alive timeout: they are closed as they become idle.
    const idle = setInterval(() => o.server.closeIdleConnections(), 100);
    await new Promise<void>((resolve) => {
      o.server.close(() => resolve());
      o.server.closeIdleConnections();
    });
    clearInterval(idle);
    o.logger.info('listener closed; releasing jobs and the database');
    await o.release();
    exit(0);
  };
  return (signal) => {
    stopping ??= stop(signal).catch((err) => {
      o.logger.error({ err }, 'shutdown failed');
      exit(1);
    });
    return stopping;
  };
}
