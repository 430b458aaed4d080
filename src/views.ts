import { Eta } from 'eta';
import type { Request, Response } from 'express';
import { csrfToken } from './middleware/csrf.ts';
import { viewsDir } from './paths.ts';

export function createEta(cache: boolean) {
  return new Eta({ views: viewsDir, cache, autoEscape: true, autoTrim: [false, 'nl'] });
}

export interface View {
  /** The whole page (calls layout() and includes its partials). */
  page: string;
  /** The fragment htmx swaps in; without one, htmx requests get the page. */
  partial?: string;
  /**
   * When one URL feeds several swap targets: the fragments by target id (partials are named after
   * the id of the element they replace). An htmx request for another target gets `partial`.
   */
  targets?: Record<string, string>;
}

/** The fragment an htmx request asks for, or undefined for a whole page. */
export function fragmentOf(req: Request, view: View): string | undefined {
  if (!req.htmx.request || req.htmx.boosted || req.htmx.historyRestore) return undefined;
  const target = targetId(req);
  return (target && view.targets?.[target]) || view.partial;
}

/** The id of the element htmx will swap (HX-Target is `tag#id` in htmx 4, `id` in htmx 2). */
export function targetId(req: Request): string | undefined {
  return req.htmx.target?.split('#').pop() || undefined;
}

/**
 * One markup, two responses: htmx requests get the fragment, every other request the page.
 * Data merges over res.locals (user, csrf token, flash, fmt).
 */
export function render(req: Request, res: Response, view: View, data: object = {}, status = 200): void {
  const eta = req.app.locals.eta as Eta;
  const fragment = fragmentOf(req, view);
  if (view.targets) res.vary('HX-Target');
  // The CSRF token is made only for what is rendered, so API calls and redirects create no session.
  const token = req.session ? csrfToken(req) : '';
  // A fragment carries its own flash messages: the page around it is not rendered again.
  const html = eta.render(fragment ?? view.page, { ...res.locals, csrfToken: token, fragment: fragment !== undefined, ...data });
  res.status(status).type('html').send(html);
}

/** A form's state when it is shown again: what was sent and what was wrong with it, by field. */
export interface FormState {
  values: Record<string, unknown>;
  errors: Record<string, string>;
}
