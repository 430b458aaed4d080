import type { Request, Response } from 'express';
import { Eta } from 'eta';
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
}

/**
 * One markup, two responses: htmx requests get the fragment, every other request the page.
 * Data merges over res.locals (user, csrf token, flash, fmt).
 */
export function render(req: Request, res: Response, view: View, data: object = {}, status = 200): void {
  const eta = req.app.locals.eta as Eta;
  const fragment = view.partial && req.htmx.request && !req.htmx.boosted && !req.htmx.historyRestore;
  // The CSRF token is made only for what is rendered, so API calls and redirects create no session.
  const token = req.session ? csrfToken(req) : '';
  const html = eta.render(fragment ? view.partial! : view.page, { ...res.locals, csrfToken: token, ...data });
  res.status(status).type('html').send(html);
}
