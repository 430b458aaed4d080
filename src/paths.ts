import path from 'node:path';

// This file is src/paths.ts, or dist/src/paths.js in the build: either way the project root
// (views/, public/, node_modules/) is found from here.
const parent = path.resolve(import.meta.dirname, '..');
export const projectRoot = path.basename(parent) === 'dist' ? path.dirname(parent) : parent;
export const viewsDir = path.join(projectRoot, 'views');
export const publicDir = path.join(projectRoot, 'public');
export const packageFile = (pkg: string, file: string) => path.join(projectRoot, 'node_modules', pkg, file);
