import crypto from 'node:crypto';
import type { PromptParams } from '../domain.ts';

// Prompt templates (SPEC §10.1): `{{variable}}` placeholders, rendered strictly — a variable without a
// value is an error, never an empty string (Langfuse #10060). The README's reference renderer for
// client code is this, in twenty lines.

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
/** A `{{` that does not open a placeholder: a typo a renderer would pass through as text. */
const STRAY = /\{\{(?!\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})/;

/** The variables a template uses, in order of first use, each once. */
export const variablesOf = (template: string): string[] => [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];

/** Where a template has a `{{` that is not a placeholder (line number), or null. */
export function strayBraces(template: string): number | null {
  const at = template.search(STRAY);
  return at < 0 ? null : template.slice(0, at).split('\n').length;
}

export type Rendered = { ok: true; text: string } | { ok: false; missing: string[] };

/** The template with every placeholder replaced by its value; the missing variables when any has none. */
export function renderStrict(template: string, values: Record<string, string>): Rendered {
  const missing = variablesOf(template).filter((v) => !Object.hasOwn(values, v));
  if (missing.length) return { ok: false, missing };
  return { ok: true, text: template.replace(PLACEHOLDER, (_m, name: string) => values[name]) };
}

const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** What makes two versions the same: template, parameters and sample values (not the note or author). */
export function contentHash(template: string, params: PromptParams, sampleValues: Record<string, string>): string {
  const content = JSON.stringify({ template, params: sorted(params), sample_values: sorted(sampleValues) });
  return crypto.createHash('sha256').update(content).digest('hex');
}

/** A tokenizer-free estimate of a text's tokens (about four characters a token for English text), rounded up. */
export const estimatedTokens = (text: string) => Math.ceil(text.length / 4);
