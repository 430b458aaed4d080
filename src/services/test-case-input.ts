import type { ModelType } from '../domain.ts';
import { CONTROL_MESSAGE, withoutControlCharacters } from '../http/validation.ts';
import type { ChatMessage } from '../providers/adapter.ts';
import type { Assertion } from './test-assertions.ts';

// A test case's fields (issue 16, SPEC §10.2) checked field by field: the JSON API's and the JSONL
// lines' shape ({name, input, assertions, critical, repeats, pass_k}), and the Testing tab's form,
// whose assertions are written one per line (`contains ok`, `latency <= 2000`, …, see ASSERTION_SYNTAX).

export interface CaseInput {
  variables?: Record<string, string>;
  messages?: ChatMessage[];
}

/** A case as stored and exported (one JSONL line). */
export interface CaseFields {
  name: string;
  input: CaseInput;
  assertions: Assertion[];
  critical: boolean;
  repeats: number;
  pass_k: number;
}

/** What a case is checked against: variables need the feature's prompt; the model type decides which assertions apply. */
export interface CaseContext {
  hasPrompt: boolean;
  modelType: ModelType;
}

const CASE_FIELDS = ['name', 'input', 'assertions', 'critical', 'repeats', 'pass_k'] as const;
const NAME_MAX = 200;
const TEXT_MAX = 10_000;
/** A regex longer than this is refused: a pattern is run against every answer of every run. */
const PATTERN_MAX = 1000;
const ASSERTIONS_MAX = 20;
const MESSAGES_MAX = 50;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ROLES = ['system', 'user', 'assistant'];
/** Assertions on an embedding (a vector, no text); every other type answers text. */
const EMBEDDING_ONLY = ['similar'];
const ANY_MODEL = ['latency_max', 'cost_max'];

type Errors = Record<string, string>;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown, max = TEXT_MAX) => typeof v === 'string' && v.length <= max && withoutControlCharacters(v);
const TEXT = `must be text of at most ${TEXT_MAX.toLocaleString('en')} characters`;

function regexError(pattern: unknown, flags: unknown): string | undefined {
  if (typeof pattern !== 'string' || pattern === '') return 'needs a pattern';
  if (pattern.length > PATTERN_MAX) return `has a pattern longer than ${PATTERN_MAX.toLocaleString('en')} characters`;
  if (flags !== undefined && (typeof flags !== 'string' || !/^(?!.*(.).*\1)[imsu]*$/.test(flags)))
    return 'takes only the flags i, m, s and u, each once';
  try {
    new RegExp(pattern, flags as string | undefined);
  } catch (err) {
    return `has a pattern that does not compile (${(err as Error).message})`;
  }
  return undefined;
}

/** One assertion checked: the assertion (only its own fields kept) or what is wrong with it. */
function assertionOf(v: unknown, ctx: CaseContext): Assertion | string {
  if (!isRecord(v)) return 'must be an object with a type';
  const embedding = ctx.modelType === 'embedding';
  const type = v.type;
  if (typeof type === 'string' && !ANY_MODEL.includes(type) && embedding !== EMBEDDING_ONLY.includes(type))
    return embedding ? `${type} does not apply to an embedding feature` : `${type} applies only to an embedding feature`;
  switch (type) {
    case 'contains':
    case 'not_contains':
    case 'equals':
      if (typeof v.value !== 'string' || v.value === '' || !isText(v.value)) return `needs a value (${TEXT})`;
      return { type, value: v.value };
    case 'regex':
      return regexError(v.pattern, v.flags) ?? { type, pattern: v.pattern as string, ...(v.flags ? { flags: v.flags as string } : {}) };
    case 'json': {
      const keys = v.required_keys ?? [];
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && k !== '' && k.length <= 200) || keys.length > 50)
        return 'has required_keys that are not a list of names';
      return keys.length ? { type, required_keys: keys as string[] } : { type };
    }
    case 'latency_max':
      return Number.isInteger(v.ms) && (v.ms as number) > 0 && (v.ms as number) <= 600_000
        ? { type, ms: v.ms as number }
        : 'needs ms, a whole number of milliseconds from 1 to 600,000';
    case 'cost_max':
      return typeof v.usd === 'number' && v.usd > 0 && v.usd <= 1000
        ? { type, usd: v.usd }
        : 'needs usd, an amount above 0 and at most 1,000';
    case 'similar':
      if (typeof v.reference !== 'string' || v.reference.trim() === '' || !isText(v.reference)) return `needs a reference answer (${TEXT})`;
      if (typeof v.threshold !== 'number' || v.threshold < 0 || v.threshold > 1) return 'needs a threshold from 0 to 1';
      return { type, reference: v.reference, threshold: v.threshold };
    default:
      return 'must have a type: contains, not_contains, regex, equals, json, latency_max, cost_max or similar';
  }
}

function assertionsOf(v: unknown, ctx: CaseContext, errors: Errors): Assertion[] {
  if (!Array.isArray(v) || v.length === 0) {
    errors.assertions = 'must list at least one assertion';
    return [];
  }
  if (v.length > ASSERTIONS_MAX) errors.assertions = `must list at most ${ASSERTIONS_MAX} assertions`;
  const checked = v.map((a) => assertionOf(a, ctx));
  const wrong = checked.flatMap((a, i) => (typeof a === 'string' ? [`#${i + 1} ${a}`] : []));
  if (wrong.length) errors.assertions = wrong.join('; ');
  return checked.filter((a): a is Assertion => typeof a !== 'string');
}

const neededInput = (ctx: CaseContext) => (ctx.hasPrompt ? 'needs variables or messages' : 'needs messages (this feature has no prompt)');

function inputOf(v: unknown, ctx: CaseContext, errors: Errors): CaseInput {
  if (!isRecord(v)) {
    errors.input = v === undefined ? neededInput(ctx) : 'must be an object with variables or messages';
    return {};
  }
  const extra = Object.keys(v).filter((k) => k !== 'variables' && k !== 'messages');
  if (extra.length) errors.input = `has fields that are not variables or messages: ${extra.join(', ')}`;
  const input: CaseInput = {};
  if (v.variables !== undefined) {
    const vars = v.variables;
    if (!ctx.hasPrompt) errors['input.variables'] = 'need a prompt: this feature has none, give messages';
    else if (!isRecord(vars) || Object.keys(vars).length > 100 || !Object.entries(vars).every(([k, x]) => VARIABLE.test(k) && isText(x)))
      errors['input.variables'] = `must be an object of variable names to text (at most ${TEXT_MAX.toLocaleString('en')} characters each)`;
    else input.variables = vars as Record<string, string>;
  }
  if (v.messages !== undefined) {
    const m = v.messages;
    const ok =
      Array.isArray(m) &&
      m.length > 0 &&
      m.length <= MESSAGES_MAX &&
      m.every((x) => isRecord(x) && ROLES.includes(x.role as string) && isText(x.content) && Object.keys(x).length === 2);
    if (ok) input.messages = m.map((x) => ({ role: x.role, content: x.content }) as ChatMessage);
    else errors['input.messages'] = `must be a list of 1 to ${MESSAGES_MAX} {role: system|user|assistant, content}`;
  }
  if (v.variables === undefined && v.messages === undefined) errors.input ??= neededInput(ctx);
  return input;
}

function countOf(v: unknown, fallback: number): number | undefined {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' ? Number(v.trim()) : v;
  return Number.isInteger(n) ? (n as number) : undefined;
}

/**
 * A case's fields checked (unknown fields refused by name): the case, or every field's error.
 * repeats defaults to 1 and pass_k to repeats (every attempt must pass).
 */
export function checkCase(body: unknown, ctx: CaseContext): { fields: CaseFields; errors: Errors } {
  const errors: Errors = {};
  if (!isRecord(body)) errors.body = 'must be a JSON object: {name, input, assertions, critical, repeats, pass_k}';
  const b = isRecord(body) ? body : {};
  for (const k of Object.keys(b)) if (!(CASE_FIELDS as readonly string[]).includes(k)) errors[k] = 'is not a field of a test case';
  const name = typeof b.name === 'string' ? b.name.trim() : '';
  if (!name) errors.name = 'is required';
  else if (name.length > NAME_MAX) errors.name = `must be at most ${NAME_MAX} characters`;
  else if (!withoutControlCharacters(name)) errors.name = CONTROL_MESSAGE;
  const input = inputOf(b.input, ctx, errors);
  const assertions = assertionsOf(b.assertions, ctx, errors);
  const critical = b.critical ?? false;
  if (typeof critical !== 'boolean') errors.critical = 'must be true or false';
  const repeats = countOf(b.repeats, 1);
  if (repeats === undefined || repeats < 1 || repeats > 10) errors.repeats = 'must be a whole number from 1 to 10';
  const passK = countOf(b.pass_k, repeats ?? 1);
  if (passK === undefined || passK < 1 || (repeats !== undefined && passK > repeats))
    errors.pass_k = `must be a whole number from 1 to the repeats (${repeats ?? 'n'})`;
  const fields = { name, input, assertions, critical: critical === true, repeats: repeats ?? 1, pass_k: passK ?? 1 };
  // Not an object at all: that alone is said.
  return { fields, errors: errors.body ? { body: errors.body } : errors };
}

// The form writes one assertion per line. This syntax is what the form's hint and the README show.
export const ASSERTION_SYNTAX =
  'contains TEXT · not contains TEXT · equals TEXT · regex /PATTERN/FLAGS · json [KEY, KEY] · latency <= MS · cost <= USD · similar THRESHOLD REFERENCE';

const LINE = /^(not contains|contains|equals|regex|json|latency|cost|similar)(?:\s+(.*))?$/i;
const AT_MOST = /^(?:<=|≤)?\s*\$?\s*([0-9]*\.?[0-9]+)\s*(?:ms)?$/i;

/** One form line as an assertion to check, or what is wrong with it. */
function assertionOfLine(line: string): unknown {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const [word, rest = ''] = [m[1].toLowerCase(), (m[2] ?? '').trim()];
  if (word === 'contains' || word === 'equals') return { type: word, value: rest };
  if (word === 'not contains') return { type: 'not_contains', value: rest };
  if (word === 'regex') {
    const slashed = /^\/(.*)\/([a-z]*)$/s.exec(rest);
    return slashed ? { type: 'regex', pattern: slashed[1], ...(slashed[2] && { flags: slashed[2] }) } : { type: 'regex', pattern: rest };
  }
  if (word === 'json') return { type: 'json', required_keys: rest ? rest.split(',').map((k) => k.trim()) : [] };
  if (word === 'similar') {
    const s = /^(?:>=|≥)?\s*([0-9]*\.?[0-9]+)\s+(.+)$/s.exec(rest);
    return { type: 'similar', threshold: s ? Number(s[1]) : undefined, reference: s?.[2] };
  }
  const n = AT_MOST.exec(rest)?.[1];
  return word === 'latency' ? { type: 'latency_max', ms: n && Number(n) } : { type: 'cost_max', usd: n && Number(n) };
}

/** An assertion as the form writes it (what assertionOfLine reads back). */
export function assertionLine(a: Assertion): string {
  switch (a.type) {
    case 'contains':
    case 'equals':
      return `${a.type} ${a.value}`;
    case 'not_contains':
      return `not contains ${a.value}`;
    case 'regex':
      return `regex /${a.pattern}/${a.flags ?? ''}`;
    case 'json':
      return a.required_keys?.length ? `json ${a.required_keys.join(', ')}` : 'json';
    case 'latency_max':
      return `latency <= ${a.ms}`;
    case 'cost_max':
      return `cost <= ${a.usd}`;
    case 'similar':
      return `similar ${a.threshold} ${a.reference}`;
  }
}

/** The form's fields, as the Testing tab posts them. */
export interface CaseForm {
  name?: string;
  variables?: string;
  message?: string;
  assertions?: string;
  critical?: string;
  repeats?: string;
  pass_k?: string;
}

const lines = (v: unknown) => (typeof v === 'string' ? v.split(/\r?\n/).filter((l) => l.trim() !== '') : []);
const ROLE_LINE = /^(system|user|assistant):\s?(.*)$/;

/**
 * The form's fields as a case's: variables `name=value` per line; the message one user message, or one
 * message per line when every line starts with a role (`system: …`); assertions one per line.
 * Errors name the form's fields (variables, message, assertions).
 */
export function caseOfForm(body: CaseForm, ctx: CaseContext): { fields: CaseFields; errors: Errors } {
  const errors: Errors = {};
  const variables: Record<string, string> = {};
  lines(body.variables).forEach((line, i) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s?(.*)$/.exec(line);
    if (m) variables[m[1]] = m[2];
    else errors.variables ??= `line ${i + 1} must read name=value`;
  });
  const message = typeof body.message === 'string' ? body.message.replace(/\r\n?/g, '\n').trim() : '';
  const roleLines = lines(message);
  const messages =
    roleLines.length > 1 && roleLines.every((l) => ROLE_LINE.test(l))
      ? roleLines.map((l) => {
          const [, role, content] = ROLE_LINE.exec(l)!;
          return { role, content };
        })
      : message
        ? [{ role: 'user', content: message }]
        : undefined;
  const assertions = lines(body.assertions).map((line, i) => {
    const a = assertionOfLine(line);
    if (a === undefined) errors.assertions ??= `line ${i + 1} does not start with an assertion (${ASSERTION_SYNTAX})`;
    return a;
  });
  const checked = checkCase(
    {
      name: body.name,
      input: { ...(Object.keys(variables).length && { variables }), ...(messages && { messages }) },
      assertions: errors.assertions ? [] : assertions,
      critical: body.critical === 'on' || body.critical === 'yes' || body.critical === 'true',
      repeats: body.repeats,
      pass_k: body.pass_k,
    },
    ctx,
  );
  const inputField = ctx.hasPrompt && !messages ? 'variables' : 'message';
  const FORM: Errors = { 'input.variables': 'variables', 'input.messages': 'message', input: inputField };
  for (const [k, v] of Object.entries(checked.errors)) errors[FORM[k] ?? k] ??= v;
  return { fields: checked.fields, errors };
}

/** A case's fields as the form shows them (the edit form is prefilled with the case). */
export function formOfCase(c: CaseFields): CaseForm {
  const m = c.input.messages ?? [];
  return {
    name: c.name,
    variables: Object.entries(c.input.variables ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    message: m.length === 1 && m[0].role === 'user' ? m[0].content : m.map((x) => `${x.role}: ${x.content}`).join('\n'),
    assertions: c.assertions.map(assertionLine).join('\n'),
    critical: c.critical ? 'on' : '',
    repeats: String(c.repeats),
    pass_k: String(c.pass_k),
  };
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * An OpenAI Evals sample (`{input, ideal}`: input a string or chat messages, ideal one answer or a
 * list of acceptable ones) as a case: the messages, and `equals` the ideal (a regex of the exact
 * alternatives when there are several). Named after its last message (with its line number when
 * that name came earlier in the file). Anything else is returned as it was, for checkCase to judge.
 */
export function fromOpenAiEvals(json: unknown, line: number, namesSoFar: { has(lowerCased: string): boolean }): unknown {
  if (!isRecord(json) || !('ideal' in json) || !('input' in json) || 'name' in json || 'assertions' in json) return json;
  const messages = typeof json.input === 'string' ? [{ role: 'user', content: json.input }] : json.input;
  const ideals = (Array.isArray(json.ideal) ? json.ideal : [json.ideal]).filter((i): i is string => typeof i === 'string');
  const last =
    Array.isArray(messages) && isRecord(messages.at(-1)) ? String((messages.at(-1) as Record<string, unknown>).content ?? '') : '';
  const base = last.replace(/\s+/g, ' ').trim().slice(0, 100) || `Sample on line ${line}`;
  const name = namesSoFar.has(base.toLowerCase()) ? `${base.slice(0, 90)} (line ${line})` : base;
  const assertion =
    ideals.length === 1 ? { type: 'equals', value: ideals[0] } : { type: 'regex', pattern: `^(?:${ideals.map(escapeRegex).join('|')})$` };
  return { name, input: { messages }, assertions: ideals.length ? [assertion] : [] };
}
