export type Role = 'admin' | 'viewer';
export type TokenScope = 'ingest' | 'read' | 'admin';

/** Who is making a request: a signed-in person or an API token. */
export type Principal =
  | { kind: 'user'; id: string; label: string; role: Role }
  | { kind: 'token'; id: string; label: string; scope: TokenScope };

export interface SessionUser {
  id: string;
  email: string;
  role: Role;
}
