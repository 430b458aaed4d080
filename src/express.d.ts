import type { Principal, SessionUser } from './auth/principal.ts';

declare global {
  namespace Express {
    // passport puts the deserialised user here
    interface User extends SessionUser {}
    interface Request {
      principal?: Principal;
      correlationId: string;
      htmx: { request: boolean; boosted: boolean; historyRestore: boolean; target?: string };
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    csrfToken?: string;
    authenticatedAt?: number;
    flash?: { kind: 'success' | 'error'; text: string }[];
  }
}
