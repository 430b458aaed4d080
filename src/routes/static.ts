import express, { Router } from 'express';
import { notFound } from '../http/errors.ts';
import { packageFile as fromPackage, publicDir } from '../paths.ts';

// Pinned by package-lock.json and served from node_modules: never from a CDN.
const VENDOR = new Map<string, string>(
  Object.entries({
    'htmx.min.js': fromPackage('htmx.org', 'dist/htmx.min.js'),
    'chartist.umd.js': fromPackage('chartist', 'dist/index.umd.js'),
    'chartist.css': fromPackage('chartist', 'dist/index.css'),
  }),
);

export function staticRoutes(): Router {
  const router = Router();
  const options = { maxAge: '1h', etag: true, lastModified: true, fallthrough: false };
  router.get('/static/vendor/:file', (req, res, next) => {
    const file = VENDOR.get(req.params.file);
    if (!file) return next(notFound('File'));
    res.sendFile(file, options);
  });
  router.use('/static', express.static(publicDir, { ...options, index: false }));
  return router;
}
