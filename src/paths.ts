import path from 'node:path';

// This file is src/paths.ts (run by tsx), or dist/src/paths.js in the build: either way the
// project root (views/, public/, node_modules/) is found from here.
const built = path.extname(import.meta.filename) === '.js';
export const projectRoot = path.resolve(import.meta.dirname, built ? '../..' : '..');
export const viewsDir = path.join(projectRoot, 'views');
export const publicDir = path.join(projectRoot, 'public');
export const packageFile = (pkg: string, file: string) => path.join(projectRoot, 'node_modules', pkg, file);
