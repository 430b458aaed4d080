import type * as cheerio from 'cheerio';
import { load } from 'cheerio';
import type { AnyNode } from 'domhandler';
import { expect } from 'vitest';
import type { Agent } from './session.ts';

// Reading the HTML the app answers with: whole pages, htmx fragments and the text people see.

export type Selection = cheerio.Cheerio<AnyNode>;

/** The text of a selection as a person reads it: whitespace runs squashed, trimmed. */
export const text = (el: Selection) => el.text().replace(/\s+/g, ' ').trim();

/** htmx's request headers, with the swap target when one is named. */
export const hx = (target?: string): Record<string, string> => ({ 'HX-Request': 'true', ...(target ? { 'HX-Target': target } : {}) });

/** A page as a signed-in browser gets it: 200 (else the page's error message says why), varying by HX-Request, parsed. */
export async function getPage(agent: Agent, path: string): Promise<cheerio.CheerioAPI> {
  const res = await agent.get(path);
  expect(res.status, `${path}: ${text(load(res.text)('#error'))}`).toBe(200);
  expect(res.headers.vary, path).toMatch(/HX-Request/);
  return load(res.text);
}

/** An htmx fragment: no shell, the element `id` alone, then the out-of-band elements `oob` (each marked hx-swap-oob). */
export function fragment(html: string, id: string, oob: string[] = []): cheerio.CheerioAPI {
  expect(html).not.toMatch(/<html|<header class="top"|aria-label="Main"/);
  const $ = load(html, null, false);
  expect(
    $.root()
      .children()
      .toArray()
      .map((e) => $(e).attr('id')),
  ).toEqual([id, ...oob]);
  for (const o of oob) expect($(`#${o}`).attr('hx-swap-oob')).toBe('true');
  return $;
}

/** The first error message of an error page or fragment. */
export const errorMessage = (html: string) => text(load(html)('#error p').first());

/** The cells of each row under `selector` (a table or its body), as text. */
export const tableRows = ($: cheerio.CheerioAPI, selector: string) =>
  $(`${selector} tr`)
    .toArray()
    .map((tr) =>
      $(tr)
        .children()
        .toArray()
        .map((c) => text($(c))),
    );
