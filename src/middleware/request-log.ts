import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.ts';

/**
 * One log line per request (method, path without its query, status, who), under an id that is also
 * sent back as X-Request-Id and kept as req.correlationId: an error page shows it, the log has it.
 */
export function requestLog(logger: Logger): RequestHandler[] {
  return [
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
    (req, _res, next) => {
      req.correlationId = String(req.id);
      next();
    },
  ];
}
