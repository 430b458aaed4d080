// Test-case assertions (SPEC §10.2, issue 16): each a pure function of one call's outcome, answering
// whether it holds and, when not, why — the verdict a run stores per assertion.

export type Assertion =
  | { type: 'contains'; value: string }
  | { type: 'not_contains'; value: string }
  | { type: 'regex'; pattern: string; flags?: string }
  | { type: 'equals'; value: string }
  | { type: 'json'; required_keys?: string[] }
  | { type: 'latency_max'; ms: number }
  | { type: 'cost_max'; usd: number }
  /** `reference` is the reference ANSWER's text: a run embeds it with the same model (Outcome.reference_embeddings). */
  | { type: 'similar'; reference: string; threshold: number };

/** What one call produced, as assertions see it. */
export interface Outcome {
  output: string | null;
  embedding: number[] | null;
  latency_ms: number;
  cost_usd: number;
  /** For `similar`: each reference answer's embedding by the model under test, keyed by the reference's text. */
  reference_embeddings?: Record<string, number[]>;
}

export interface Verdict {
  pass: boolean;
  /** Why it failed, in words; empty when it passed. */
  detail: string;
}

const pass: Verdict = { pass: true, detail: '' };
const fail = (detail: string): Verdict => ({ pass: false, detail });

/** The cosine similarity of two vectors of the same length; null when they differ in length or either is all zeros. */
export function cosine(a: number[], b: number[]): number | null {
  if (a.length !== b.length || a.length === 0) return null;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? null : dot / Math.sqrt(na * nb);
}

function jsonVerdict(text: string, required: string[]): Verdict {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('the output is not valid JSON');
  }
  if (!required.length) return pass;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('the output is JSON but not an object');
  const missing = required.filter((k) => !(k in parsed));
  return missing.length ? fail(`the JSON has no ${missing.join(', ')}`) : pass;
}

/** Whether one assertion holds for an outcome. */
export function evaluate(a: Assertion, o: Outcome): Verdict {
  const text = o.output ?? '';
  switch (a.type) {
    case 'contains':
      return text.includes(a.value) ? pass : fail(`the output does not contain “${a.value}”`);
    case 'not_contains':
      return text.includes(a.value) ? fail(`the output contains “${a.value}”`) : pass;
    case 'regex':
      return new RegExp(a.pattern, a.flags).test(text) ? pass : fail(`the output does not match /${a.pattern}/${a.flags ?? ''}`);
    case 'equals':
      return text === a.value ? pass : fail(`the output is not exactly “${a.value}”`);
    case 'json':
      return jsonVerdict(text, a.required_keys ?? []);
    case 'latency_max':
      return o.latency_ms <= a.ms ? pass : fail(`took ${o.latency_ms} ms, more than ${a.ms} ms`);
    case 'cost_max':
      return o.cost_usd <= a.usd ? pass : fail(`cost $${o.cost_usd}, more than $${a.usd}`);
    case 'similar': {
      if (!o.embedding) return fail('there is no embedding to compare');
      const reference = o.reference_embeddings?.[a.reference];
      if (!reference) return fail('the reference answer was not embedded');
      const c = cosine(o.embedding, reference);
      if (c === null) return fail('the embedding and the reference cannot be compared (different lengths, or a zero vector)');
      return c >= a.threshold ? pass : fail(`cosine similarity ${c.toFixed(3)} is below ${a.threshold}`);
    }
  }
}

/** A case with repeats passes when at least `k` of its attempts pass every assertion. */
export const repeatsPass = (attempts: boolean[], k: number) => attempts.filter(Boolean).length >= k;

/** An assertion in words: the cases list and a run's verdicts name it so. */
export function describeAssertion(a: Assertion): string {
  switch (a.type) {
    case 'contains':
      return `contains “${a.value}”`;
    case 'not_contains':
      return `does not contain “${a.value}”`;
    case 'regex':
      return `matches /${a.pattern}/${a.flags ?? ''}`;
    case 'equals':
      return `is exactly “${a.value}”`;
    case 'json':
      return a.required_keys?.length ? `is a JSON object with ${a.required_keys.join(', ')}` : 'is valid JSON';
    case 'latency_max':
      return `answers within ${a.ms.toLocaleString('en')} ms`;
    case 'cost_max':
      return `costs at most $${a.usd}`;
    case 'similar':
      return `is similar to “${a.reference}” (cosine ≥ ${a.threshold})`;
  }
}
