import { describe, expect, it } from 'vitest';
import type { Assertion } from '../../src/services/test-assertions.ts';
import { describeAssertion } from '../../src/services/test-assertions.ts';
import { assertionLine, type CaseContext, caseOfForm, checkCase, formOfCase } from '../../src/services/test-case-input.ts';

// A test case's fields (issue 16) as the form writes them: one assertion per line, read back exactly
// as written; variables and messages; and the JSON shape's rules.

const llm: CaseContext = { hasPrompt: true, modelType: 'llm' };
const embedding: CaseContext = { hasPrompt: false, modelType: 'embedding' };

const lines: [string, Assertion, string, CaseContext][] = [
  ['contains ok', { type: 'contains', value: 'ok' }, 'contains “ok”', llm],
  ['not contains I am sorry', { type: 'not_contains', value: 'I am sorry' }, 'does not contain “I am sorry”', llm],
  ['equals {"a": 1}', { type: 'equals', value: '{"a": 1}' }, 'is exactly “{"a": 1}”', llm],
  ['regex /^ok$/im', { type: 'regex', pattern: '^ok$', flags: 'im' }, 'matches /^ok$/im', llm],
  ['regex /a\\/b/', { type: 'regex', pattern: 'a\\/b' }, 'matches /a\\/b/', llm],
  ['json', { type: 'json' }, 'is valid JSON', llm],
  ['json status, items', { type: 'json', required_keys: ['status', 'items'] }, 'is a JSON object with status, items', llm],
  ['latency <= 2000', { type: 'latency_max', ms: 2000 }, 'answers within 2,000 ms', llm],
  ['cost <= 0.005', { type: 'cost_max', usd: 0.005 }, 'costs at most $0.005', llm],
  [
    'similar 0.85 How to reset your password',
    { type: 'similar', reference: 'How to reset your password', threshold: 0.85 },
    'is similar to “How to reset your password” (cosine ≥ 0.85)',
    embedding,
  ],
];

describe('assertion lines', () => {
  it.each(lines)('“%s” reads as %j, is written back the same, and reads “%s”', (line, assertion, words, ctx) => {
    const read = caseOfForm({ name: 'n', message: 'hi', assertions: line }, ctx);
    expect(read.errors).toEqual({});
    expect(read.fields.assertions).toEqual([assertion]);
    expect(assertionLine(assertion)).toBe(line);
    expect(describeAssertion(assertion)).toBe(words);
  });

  it('takes ≤ and units the way people write them', () => {
    const read = caseOfForm({ name: 'n', message: 'hi', assertions: 'latency ≤ 1500 ms\ncost <= $0.01\nregex ^\\d+$' }, llm);
    expect(read.fields.assertions).toEqual([
      { type: 'latency_max', ms: 1500 },
      { type: 'cost_max', usd: 0.01 },
      { type: 'regex', pattern: '^\\d+$' },
    ]);
  });

  it('names the first line that is not an assertion, and a bad value by its number', () => {
    expect(caseOfForm({ name: 'n', message: 'hi', assertions: 'contains ok\nis nice' }, llm).errors.assertions).toMatch(
      /^line 2 does not start with an assertion/,
    );
    expect(caseOfForm({ name: 'n', message: 'hi', assertions: 'contains ok\nlatency <= soon' }, llm).errors).toEqual({
      assertions: '#2 needs ms, a whole number of milliseconds from 1 to 600,000',
    });
  });
});

describe('the form’s input', () => {
  it('reads variables as name=value lines, a message as one user message, role lines as messages; and writes them back', () => {
    const vars = caseOfForm({ name: 'n', variables: 'name=Ada\r\ncity = Paris', assertions: 'json' }, llm);
    expect(vars.fields.input).toEqual({ variables: { name: 'Ada', city: 'Paris' } });
    const chat = caseOfForm({ name: 'n', message: 'system: Be brief\nuser: Hi', assertions: 'json' }, { ...llm, hasPrompt: false });
    expect(chat.fields.input).toEqual({
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'Hi' },
      ],
    });
    expect(formOfCase(chat.fields)).toMatchObject({ message: 'system: Be brief\nuser: Hi', assertions: 'json', repeats: '1', pass_k: '1' });
    expect(formOfCase(vars.fields).variables).toBe('name=Ada\ncity=Paris');
  });

  it('refuses a line that is not name=value, and no input at all, on the right field', () => {
    expect(caseOfForm({ name: 'n', variables: 'Ada', assertions: 'json' }, llm).errors).toEqual({
      variables: 'line 1 must read name=value',
    });
    expect(caseOfForm({ name: 'n', assertions: 'json' }, { ...llm, hasPrompt: false }).errors).toEqual({
      message: 'needs messages (this feature has no prompt)',
    });
  });
});

describe('checkCase', () => {
  it('defaults repeats to 1 and pass_k to the repeats', () => {
    const base = { name: 'n', input: { messages: [{ role: 'user', content: 'x' }] }, assertions: [{ type: 'json' }] };
    expect(checkCase(base, llm).fields).toMatchObject({ critical: false, repeats: 1, pass_k: 1 });
    expect(checkCase({ ...base, repeats: 4 }, llm).fields).toMatchObject({ repeats: 4, pass_k: 4 });
    expect(checkCase({ ...base, repeats: 11, pass_k: 0 }, llm).errors).toEqual({
      repeats: 'must be a whole number from 1 to 10',
      pass_k: 'must be a whole number from 1 to the repeats (11)',
    });
  });

  it('refuses regex flags other than i, m, s, u and more than 20 assertions', () => {
    const base = { name: 'n', input: { messages: [{ role: 'user', content: 'x' }] } };
    expect(checkCase({ ...base, assertions: [{ type: 'regex', pattern: 'a', flags: 'g' }] }, llm).errors).toEqual({
      assertions: '#1 takes only the flags i, m, s and u, each once',
    });
    expect(checkCase({ ...base, assertions: Array(21).fill({ type: 'json' }) }, llm).errors).toEqual({
      assertions: 'must list at most 20 assertions',
    });
  });
});
