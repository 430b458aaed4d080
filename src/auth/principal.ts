import type { TokenScope } from '../domain.ts';

export type Role = 'admin' | 'viewer';

/** Who is making a request: a signed-in person or an API token. */
export type Principal =
  | { kind: 'user'; id: string; label: string; role: Role }
  | { kind: 'token'; id: string; label: string; scope: TokenScope };

export interface SessionUser {
  id: string;
  email: string;
  role: Role;
}

/** What a principal may do: read the console API, change things, send usage. */
export const canRead = (p: Principal) => p.kind === 'user' || p.scope !== 'ingest';
export const canWrite = (p: Principal) => (p.kind === 'user' ? p.role === 'admin' : p.scope === 'admin');
export const canIngest = (p: Principal) => p.kind === 'token' && p.scope !== 'read';
