import { describe, expect, it } from 'vitest';
import { bySchema, plainEvent } from '../../src/services/ingest.ts';

// The ingestion's fast path (plainEvent) judges the usual event without the schema: it must accept
// nothing the schema refuses, and answer the same data for what it accepts. Every field of a valid
// event is set, in turn, to each awkward value.

const base = {
  event_id: 'e-1',
  feature: 'chatbot',
  model: 'gpt-4o-mini',
  provider: 'openai',
  environment: 'staging',
  end_user_id: 'user-1',
  status: 'success',
  response_time_ms: 120,
  input_tokens: 10,
  output_tokens: 20,
  cost_usd: 0.25,
  created_at: '2026-11-28T10:00:00.123Z',
  prompt_version: 2,
  variant: 'stable',
};

const ABSENT = Symbol('absent');
const AWKWARD: unknown[] = [
  ABSENT,
  null,
  '',
  ' ',
  'x'.repeat(100),
  'x'.repeat(101),
  'x'.repeat(200),
  'x'.repeat(201),
  'a\u0000b',
  'a\tb',
  'a\u007fb',
  'a\nb',
  '\ud800',
  'ok\udfff',
  '😀',
  'production',
  'staging',
  'development',
  'Production',
  'success',
  'error',
  'timeout',
  'stable',
  'candidate',
  0,
  -0,
  -1,
  1,
  1.5,
  3_600_000,
  3_600_001,
  100_000,
  100_000.5,
  100_001,
  100_000_000,
  100_000_001,
  2 ** 60,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '12',
  true,
  [],
  {},
  ['a'],
  '2026-02-29T00:00:00Z',
  '2028-02-29T00:00:00Z',
  '2026-11-28T10:00:00',
  '2026-11-28T10:00:00+01:00',
  '2026-11-28T10:00:00z',
  '2026-11-28 10:00:00Z',
  '2026-11-28T24:00:00Z',
  '2026-11-28T10:00:00.5+14:00',
];

function* events(): Generator<Record<string, unknown>> {
  yield base;
  const fields = [...Object.keys(base), 'feature_id', 'model_id'];
  for (const field of fields)
    for (const value of AWKWARD) {
      const e: Record<string, unknown> = { ...base };
      if (value === ABSENT) delete e[field];
      else e[field] = value;
      yield e;
      // The same through the aliases.
      if (field === 'feature' || field === 'model') {
        const { [field]: _gone, ...rest } = e;
        yield { ...rest, [`${field}_id`]: value === ABSENT ? undefined : value };
      }
    }
  for (const odd of [null, [], 'event', 12, [base]]) yield odd as never;
}

describe('plainEvent, the fast path of ingestion', () => {
  it('accepts only events the schema accepts, with the same data, and takes the usual ones', () => {
    let fast = 0;
    let valid = 0;
    for (const e of events()) {
      const quick = plainEvent(e);
      const parsed = bySchema(e);
      if (parsed.success) valid++;
      if (quick === undefined) continue;
      fast++;
      expect(parsed.success, JSON.stringify(e)).toBe(true);
      const data = parsed.data!;
      for (const key of Object.keys(data) as (keyof typeof data)[])
        expect(quick[key], `${key} of ${JSON.stringify(e)}`).toStrictEqual(data[key]);
      for (const key of Object.keys(quick) as (keyof typeof quick)[])
        expect(quick[key], `${key} of ${JSON.stringify(e)}`).toStrictEqual(data[key]);
    }
    expect(plainEvent(base)).toBeDefined();
    // Everything valid but the prompt_version's awkward values (judged later), the few optional fields left out and the aliases goes fast.
    expect(fast).toBeGreaterThan(valid * 0.8);
  });
});
