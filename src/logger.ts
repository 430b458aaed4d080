import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

// Anything that could carry a secret is removed before a line is written.
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.password_hash',
  '*.token',
  '*.api_key',
  '*.apiKey',
  '*.secret',
];

export interface LoggerOptions {
  /**
   * Human-readable lines instead of JSON: by default when nothing else is given to write to and
   * stdout is a terminal (`npm start` by hand); JSON otherwise (piped, collected, tests).
   */
  pretty?: boolean;
}

export function createLogger(level: string, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  const settings = { level, redact: { paths: REDACT, censor: '[redacted]' } };
  // Redaction happens in pino, before a line reaches the prettifier: pretty lines are redacted too.
  if (options.pretty ?? (!destination && process.stdout.isTTY === true)) {
    const colorize = destination ? false : undefined;
    return pino(
      settings,
      pretty({ destination: destination ?? 1, sync: true, colorize, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }),
    );
  }
  return destination ? pino(settings, destination) : pino(settings);
}
