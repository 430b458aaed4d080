import { createApiKey } from '../services/api-keys.ts';
import { runCli, UsageError } from './run.ts';

const SCOPES = ['ingest', 'read', 'admin'];

await runCli(
  'npm run token:create -- --name N --scope ingest|read|admin',
  { name: { type: 'string' }, scope: { type: 'string' } },
  async ({ db, values }) => {
    if (!values.name?.trim()) throw new UsageError('--name is required');
    if (!values.scope || !SCOPES.includes(values.scope)) throw new UsageError('--scope must be one of ingest, read, admin');
    const { key, token } = await createApiKey(db, { kind: 'system', label: 'cli' }, { name: values.name, scope: values.scope });
    console.log(`Created ${key.scope} token "${key.name}". It is shown once; keep it somewhere safe:`);
    console.log(token);
  },
);
