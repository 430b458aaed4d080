import type { Request } from 'express';

/** Leaves a message for the next page this session sees (after a 303); a newer one replaces it. */
export function flash(req: Request, kind: 'success' | 'error', text: string): void {
  req.session.flash = [{ kind, text }];
}
