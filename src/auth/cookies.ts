import type { Request } from 'express';

/** A cookie of the request by name (no cookie parser is mounted: express-session reads its own). */
export function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.get('Cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
