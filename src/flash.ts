import type { Request } from 'express';

/** Queues a message for the next page this session sees (after a 303). */
export function flash(req: Request, kind: 'success' | 'error', text: string): void {
  req.session.flash = [...(req.session.flash ?? []), { kind, text }];
}
