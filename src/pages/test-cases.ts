import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import { url, withQuery } from '../http/urls.ts';
import type { PlaygroundResult } from '../services/playground.ts';
import { describeAssertion } from '../services/test-assertions.ts';
import { ASSERTION_SYNTAX, type CaseFields, type CaseForm, formOfCase } from '../services/test-case-input.ts';
import { caseContext, caseFieldsOf, type LineError, listTestCases } from '../services/test-cases.ts';
import type { FormState } from '../views.ts';
import type { Confirmation } from './confirmations.ts';

// The Testing tab's test cases (issue 16): the list (name, input in short, assertions in words,
// critical, k of n), the add form, each case's edit form, the JSONL import and export.

/** What the forms show again after a post: refused values with their errors, an import's bad lines, a delete to confirm. */
export interface TestCasesShown {
  add?: FormState;
  /** A refused edit: the case's id and the form as posted. */
  edit?: FormState & { id: string };
  import?: FormState & { lines?: LineError[] };
  confirmation?: Confirmation;
  /** The add form pre-filled from a playground call ("save as a test case"). */
  prefill?: CaseForm;
}

const SUMMARY_MAX = 120;
const short = (s: string) => (s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s);

/** A case's input in one line: its variables, or its last message (and how many there are). */
function inputSummary(input: CaseFields['input']): string {
  const vars = Object.entries(input.variables ?? {}).map(([k, v]) => `${k}=${v}`);
  const m = input.messages ?? [];
  const last = m.at(-1);
  const message = last ? `${last.role}: “${last.content}”${m.length > 1 ? ` (${m.length} messages)` : ''}` : '';
  return short([vars.join(', '), message].filter(Boolean).join(' · '));
}

const testCasesUrl = (slug: string) => url.featureAction(slug, 'test-cases');
const testCaseUrl = (slug: string, id: string, action?: 'delete') =>
  `${testCasesUrl(slug)}/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;

/** The cases of a feature as the tab lists them, each with its edit form's values. */
export async function testCasesTab(db: Db, feature: FeatureRow) {
  const [rows, ctx] = await Promise.all([listTestCases(db, feature.id), caseContext(db, feature)]);
  return {
    hasPrompt: ctx.hasPrompt,
    embedding: ctx.modelType === 'embedding',
    syntax: ASSERTION_SYNTAX,
    action: testCasesUrl(feature.name),
    importAction: `${testCasesUrl(feature.name)}/import`,
    exportUrl: withQuery(testCasesUrl(feature.name), { format: 'jsonl' }),
    cases: rows.map((r) => {
      const fields = caseFieldsOf(r);
      return {
        id: r.id,
        name: r.name,
        input: inputSummary(fields.input),
        assertions: fields.assertions.map(describeAssertion),
        critical: r.critical,
        repeats: r.repeats,
        pass_k: r.pass_k,
        form: formOfCase(fields),
        editAction: testCaseUrl(feature.name, r.id),
        deleteAction: testCaseUrl(feature.name, r.id, 'delete'),
      };
    }),
  };
}

/** The confirmation a case's delete asks for on the form (the JSON API deletes at once). */
export function deleteCaseConfirmation(slug: string, c: { id: string; name: string; assertions: unknown[] }): Confirmation {
  return {
    title: `Delete the test case “${c.name}”?`,
    facts: [
      ['Case', c.name],
      ['Assertions', String(c.assertions.length)],
    ],
    warning: 'Runs stop running it. Past runs keep their results.',
    action: testCaseUrl(slug, c.id, 'delete'),
    fields: {},
    button: 'Confirm: delete the case',
    busy: 'Deleting…',
    cancel: url.features({ feature: slug, tab: 'testing' }),
  };
}

/**
 * A playground call that answered, as a new case's form: its variables and message, and one assertion
 * on what came back — `equals` a one-line answer, else `contains` its first line; for an embedding, `similar`
 * to the text sent (a reference answer to edit). The admin names it and adjusts before adding.
 */
export function caseFormOfPlayground(values: Record<string, string>, r: PlaygroundResult): CaseForm | undefined {
  if (!r.ok) return undefined;
  const output = (r.output ?? '').trim();
  const first =
    output
      .split(/\r?\n/)
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  const assertion = r.embedding
    ? `similar 0.8 ${r.input.split(/\r?\n/)[0]}`
    : output === first && output !== ''
      ? `equals ${output}`
      : first
        ? `contains ${first}`
        : '';
  return { name: '', variables: values.variables ?? '', message: values.message ?? '', assertions: assertion, repeats: '1', pass_k: '' };
}
