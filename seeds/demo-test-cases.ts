import type { Db } from '../src/db/knex.ts';
import type { Assertion } from '../src/services/test-assertions.ts';
import { type CaseFields, checkCase } from '../src/services/test-case-input.ts';
import { BY, type Timeline } from './demo-history.ts';

// The demo's test suites (issue 16): a few cases per feature, checked by the same rules as the API's.
// The simulator answers "ok" (and the vector [0.1, 0.2, 0.3]) in about 40 ms: every case passes it
// but "Answers in JSON", which shows what a failed case looks like in a run. Runs inside the demo
// seed's transaction, after its prompts (a case's variables need the feature's prompt).

type DemoCase = Omit<CaseFields, 'critical' | 'repeats' | 'pass_k'> & Partial<CaseFields>;

const FAST: Assertion = { type: 'latency_max', ms: 5000 };
const CHEAP: Assertion = { type: 'cost_max', usd: 0.01 };

export const DEMO_CASES: Record<string, DemoCase[]> = {
  chatbot: [
    {
      name: 'Password reset',
      input: { variables: { product: 'Acme Cloud', question: 'How do I reset my password?' } },
      assertions: [{ type: 'contains', value: 'ok' }, FAST],
      critical: true,
    },
    {
      name: 'No apology for a plain question',
      input: { variables: { product: 'Acme Cloud', question: 'Can I export my data?' } },
      assertions: [{ type: 'not_contains', value: 'sorry' }, CHEAP],
    },
    {
      name: 'Short confirmation',
      input: { variables: { product: 'Acme Cloud', question: 'Reply with ok' } },
      assertions: [{ type: 'regex', pattern: '^ok\\b', flags: 'i' }],
      repeats: 3,
      pass_k: 2,
    },
    {
      name: 'Answers in JSON',
      input: { messages: [{ role: 'user', content: 'Give the order status as JSON with a "status" key.' }] },
      assertions: [{ type: 'json', required_keys: ['status'] }],
    },
  ],
  'ai-search': [
    {
      name: 'Password reset query',
      input: { variables: { query: 'reset password' } },
      assertions: [{ type: 'similar', reference: 'How to reset your password', threshold: 0.8 }, FAST],
      critical: true,
    },
    { name: 'Billing query', input: { variables: { query: 'update my card' } }, assertions: [FAST, CHEAP] },
    {
      name: 'Export query',
      input: { variables: { query: 'export data to CSV' } },
      assertions: [{ type: 'similar', reference: 'Exporting your data', threshold: 0.5 }],
    },
  ],
  'photo-tagging': [
    {
      name: 'Lowercase tags',
      input: { variables: { max_tags: '5' } },
      assertions: [{ type: 'regex', pattern: '^[a-z, ]+$' }, FAST],
      critical: true,
    },
    {
      name: 'At most three tags',
      input: { variables: { max_tags: '3' } },
      assertions: [{ type: 'regex', pattern: '^[^,]+(,[^,]+){0,2}$' }, CHEAP],
    },
    {
      name: 'No filler words',
      input: { variables: { max_tags: '5' } },
      assertions: [
        { type: 'not_contains', value: 'image of' },
        { type: 'not_contains', value: 'photo of' },
      ],
    },
  ],
};

/** The demo case the simulator fails (its run shows a failure). */
export const FAILING_DEMO_CASE = 'Answers in JSON';

/** Writes the demo's test cases (each checked as the API would); returns how many. */
export async function seedDemoTestCases(db: Db, time: Timeline): Promise<number> {
  let n = 0;
  for (const [name, cases] of Object.entries(DEMO_CASES)) {
    const feature = (await db('ai_features').where({ name }).first())!;
    for (const [i, c] of cases.entries()) {
      const { fields, errors } = checkCase(c, { hasPrompt: true, modelType: feature.required_model_type });
      if (Object.keys(errors).length) throw new Error(`demo test case ${name}/${c.name}: ${JSON.stringify(errors)}`);
      await db('test_cases').insert({
        ...fields,
        input: JSON.stringify(fields.input),
        assertions: JSON.stringify(fields.assertions),
        feature_id: feature.id,
        created_by: BY,
        // One after the other, the day the suite was written: a run keeps this order.
        created_at: new Date(time.ago(6).getTime() + i * 60_000),
      });
      n++;
    }
  }
  return n;
}
