import { diffLines } from 'diff';
import type { Row } from '../db/tables.ts';

// The diff of two prompt versions (SPEC §10.1), computed by jsdiff and rendered by the server as a
// table of lines (<del>/<ins>), readable without JavaScript; parameters and sample values compared key by key.

export interface DiffLine {
  kind: 'same' | 'del' | 'ins';
  text: string;
  /** Line numbers in the older and the newer version (none where the line is not in that version). */
  from?: number;
  to?: number;
}

export interface ValueChange {
  key: string;
  from?: string;
  to?: string;
  changed: boolean;
}

/** Past this much work the diff gives up and shows the whole of both versions (two 100 kB templates with nothing in common). */
const DIFF_TIMEOUT_MS = 1000;

const linesOf = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));

/** The line diff of two texts, each line numbered in the version it belongs to. */
export function lineDiff(older: string, newer: string): DiffLine[] {
  // A last line is the same line with or without a line break after it.
  const changes = diffLines(older, newer, { timeout: DIFF_TIMEOUT_MS, ignoreNewlineAtEof: true }) ?? [
    { value: older, removed: true, added: false, count: 0 },
    { value: newer, removed: false, added: true, count: 0 },
  ];
  const out: DiffLine[] = [];
  let from = 0;
  let to = 0;
  for (const c of changes)
    for (const text of linesOf(c.value)) {
      if (c.removed) out.push({ kind: 'del', text, from: ++from });
      else if (c.added) out.push({ kind: 'ins', text, to: ++to });
      else out.push({ kind: 'same', text, from: ++from, to: ++to });
    }
  return out;
}

const shown = (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v.map((s) => JSON.stringify(s)).join(', ') : String(v));

/** Two objects compared key by key (the union of their keys, sorted). */
export function valueChanges(older: object, newer: object): ValueChange[] {
  const a = older as Record<string, unknown>;
  const b = newer as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().map((key) => {
    const from = shown(a[key]);
    const to = shown(b[key]);
    return { key, from, to, changed: from !== to };
  });
}

type Version = Pick<
  Row<'prompt_versions'>,
  'version' | 'template' | 'params' | 'sample_values' | 'variables' | 'notes' | 'created_by' | 'created_at'
>;

/** Everything that differs between two versions of a prompt. */
export function promptDiff(older: Version, newer: Version) {
  const lines = lineDiff(older.template, newer.template);
  return {
    from: older,
    to: newer,
    lines,
    added: lines.filter((l) => l.kind === 'ins').length,
    removed: lines.filter((l) => l.kind === 'del').length,
    params: valueChanges(older.params, newer.params),
    samples: valueChanges(older.sample_values, newer.sample_values),
  };
}
export type PromptDiff = ReturnType<typeof promptDiff>;
