import { describe, expect, it } from 'vitest';
import { type Assertion, cosine, evaluate, type Outcome, repeatsPass } from '../../src/services/test-assertions.ts';

// Each assertion type of a test case (issue 16), true and false, as pure functions of one outcome.

const outcome = (o: Partial<Outcome> = {}): Outcome => ({
  output: 'Hello, Ada!',
  embedding: null,
  latency_ms: 120,
  cost_usd: 0.0004,
  ...o,
});

/** The reference answers' embeddings, as a run passes them (keyed by the reference's text). */
const refs = { 'reset it': [1, 0, 0] };

const cases: [string, Assertion, Outcome, boolean, string][] = [
  ['contains', { type: 'contains', value: 'Ada' }, outcome(), true, ''],
  ['contains', { type: 'contains', value: 'Grace' }, outcome(), false, 'the output does not contain “Grace”'],
  ['not_contains', { type: 'not_contains', value: 'Grace' }, outcome(), true, ''],
  ['not_contains', { type: 'not_contains', value: 'Ada' }, outcome(), false, 'the output contains “Ada”'],
  ['regex', { type: 'regex', pattern: '^hello', flags: 'i' }, outcome(), true, ''],
  ['regex', { type: 'regex', pattern: '^\\d+$' }, outcome(), false, 'the output does not match /^\\d+$/'],
  ['equals', { type: 'equals', value: 'Hello, Ada!' }, outcome(), true, ''],
  ['equals', { type: 'equals', value: 'Hello, Ada' }, outcome(), false, 'the output is not exactly “Hello, Ada”'],
  ['json', { type: 'json' }, outcome({ output: '[1, 2]' }), true, ''],
  ['json', { type: 'json' }, outcome(), false, 'the output is not valid JSON'],
  ['json with keys', { type: 'json', required_keys: ['a', 'b'] }, outcome({ output: '{"a": 1, "b": null}' }), true, ''],
  ['json with keys', { type: 'json', required_keys: ['a', 'b'] }, outcome({ output: '{"a": 1}' }), false, 'the JSON has no b'],
  ['latency_max', { type: 'latency_max', ms: 120 }, outcome(), true, ''],
  ['latency_max', { type: 'latency_max', ms: 100 }, outcome(), false, 'took 120 ms, more than 100 ms'],
  ['cost_max', { type: 'cost_max', usd: 0.001 }, outcome(), true, ''],
  ['cost_max', { type: 'cost_max', usd: 0.0001 }, outcome(), false, 'cost $0.0004, more than $0.0001'],
  [
    'similar',
    { type: 'similar', reference: 'reset it', threshold: 0.9 },
    outcome({ embedding: [0.99, 0.1, 0], reference_embeddings: refs }),
    true,
    '',
  ],
  [
    'similar',
    { type: 'similar', reference: 'reset it', threshold: 0.9 },
    outcome({ embedding: [0, 1, 0], reference_embeddings: refs }),
    false,
    'cosine similarity 0.000 is below 0.9',
  ],
  [
    'similar',
    { type: 'similar', reference: 'reset it', threshold: 0.5 },
    outcome({ reference_embeddings: refs }),
    false,
    'there is no embedding to compare',
  ],
  [
    'similar',
    { type: 'similar', reference: 'another answer', threshold: 0.5 },
    outcome({ embedding: [1, 0, 0], reference_embeddings: refs }),
    false,
    'the reference answer was not embedded',
  ],
];

describe('evaluate', () => {
  it.each(cases)('%s %j → %s', (_name, assertion, o, passes, detail) => {
    expect(evaluate(assertion, o)).toEqual({ pass: passes, detail });
  });
});

describe('cosine', () => {
  it('is 1 for parallel vectors, null for different lengths or a zero vector', () => {
    expect(cosine([1, 2], [2, 4])).toBeCloseTo(1);
    expect(cosine([1, 2], [1, 2, 3])).toBeNull();
    expect(cosine([0, 0], [1, 1])).toBeNull();
  });
});

describe('repeatsPass', () => {
  it('passes when at least k of n attempts pass', () => {
    expect(repeatsPass([true, false, true], 2)).toBe(true);
    expect(repeatsPass([true, false, false], 2)).toBe(false);
  });
});
