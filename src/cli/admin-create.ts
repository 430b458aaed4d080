import { createUser } from '../services/users.ts';
import { runCli, UsageError } from './run.ts';

await runCli(
  'npm run admin:create -- --email E --password P [--role admin|viewer]',
  { email: { type: 'string' }, password: { type: 'string' }, role: { type: 'string', default: 'admin' } },
  async ({ db, values }) => {
    if (!values.email || !values.password) throw new UsageError('--email and --password are required');
    if (values.role !== 'admin' && values.role !== 'viewer') throw new UsageError('--role must be admin or viewer');
    const user = await createUser(
      db,
      { kind: 'system', label: 'cli' },
      { email: values.email, password: values.password, role: values.role },
    );
    console.log(`Created ${user.role} ${user.email}`);
  },
);
