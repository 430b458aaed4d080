import type { Db } from '../db/knex.ts';
import type { FeatureRow } from '../db/queries/features.ts';
import type { Row } from '../db/tables.ts';
import { notFound, Refusal } from '../http/errors.ts';
import { type Actor, recordAudit } from './audit.ts';
import type { Assertion } from './test-assertions.ts';
import { type CaseContext, type CaseFields, checkCase, fromOpenAiEvals } from './test-case-input.ts';

// Test cases (issue 16, SPEC §10.2): per feature, created, edited and deleted (softly: a run keeps
// the case it ran) by an admin, one at a time or imported from JSONL, one case per line in the shape
// CaseFields ({name, input, assertions, critical, repeats, pass_k}). Names are unique in a feature
// (any case); every write is one transaction with its audit row, and a refused one writes nothing.

export type TestCaseRow = Row<'test_cases'>;
/** A case's fields checked against the feature: from the JSON API, a JSONL line or the form (test-case-input.ts). */
export type CaseReader = (ctx: CaseContext, current?: CaseFields) => { fields: CaseFields; errors: Record<string, string> };

const IMPORT_MAX_CASES = 1000;
const IMPORT_MAX_BYTES = 1_000_000;

/** A feature's cases not deleted, oldest first: the order a run runs them. */
export const listTestCases = (db: Db, featureId: string): Promise<TestCaseRow[]> =>
  db('test_cases')
    .where({ feature_id: featureId })
    .whereNull('deleted_at')
    .orderBy([{ column: 'created_at' }, { column: 'id' }]);

export async function findTestCase(db: Db, featureId: string, caseId: string): Promise<TestCaseRow> {
  const row = /^[0-9a-f-]{36}$/i.test(caseId)
    ? await db('test_cases').where({ id: caseId, feature_id: featureId }).whereNull('deleted_at').first()
    : undefined;
  if (!row) throw notFound('Test case');
  return row;
}

/** What a case's assertions and input are checked against: whether the feature has a prompt, its model type. */
export async function caseContext(db: Db, feature: FeatureRow): Promise<CaseContext> {
  const prompt = await db('prompt_versions').where({ feature_id: feature.id }).first('id');
  return { hasPrompt: prompt !== undefined, modelType: feature.required_model_type };
}

// jsonb orders an object's keys its own way: an assertion's are put back in the order the README documents.
const KEY_ORDER = ['type', 'value', 'pattern', 'flags', 'required_keys', 'ms', 'usd', 'reference', 'threshold'];
const inDocumentedOrder = (a: Assertion) =>
  Object.fromEntries(Object.entries(a).sort(([x], [y]) => KEY_ORDER.indexOf(x) - KEY_ORDER.indexOf(y))) as Assertion;

/** A case as the API answers it and a JSONL line holds it. */
export const caseFieldsOf = (r: TestCaseRow): CaseFields => ({
  name: r.name,
  input: r.input,
  assertions: r.assertions.map(inDocumentedOrder),
  critical: r.critical,
  repeats: r.repeats,
  pass_k: r.pass_k,
});

const columnsOf = (f: CaseFields) => ({ ...f, input: JSON.stringify(f.input), assertions: JSON.stringify(f.assertions) });
// The moment of writing, not the transaction's: cases imported together keep the file's order.
const newRow = (trx: Db, feature: FeatureRow, actor: Actor, f: CaseFields) => ({
  ...columnsOf(f),
  feature_id: feature.id,
  created_by: actor.label,
  created_at: trx.raw('clock_timestamp()'),
});
const TAKEN = 'is already the name of another case of this feature';

/** The feature locked (two writes check names one after the other); the names taken, lower-cased, by case id. */
async function namesTaken(trx: Db, feature: FeatureRow): Promise<Map<string, TestCaseRow>> {
  await trx('ai_features').where({ id: feature.id }).forUpdate().first('id');
  return new Map((await listTestCases(trx, feature.id)).map((r) => [r.name.toLowerCase(), r]));
}

/** Creates a case, or edits one (its id given): 422 with field errors and nothing written when refused; audited. */
export async function saveTestCase(db: Db, actor: Actor, feature: FeatureRow, read: CaseReader, caseId?: string): Promise<TestCaseRow> {
  const current = caseId === undefined ? undefined : await findTestCase(db, feature.id, caseId);
  const { fields, errors } = read(await caseContext(db, feature), current && caseFieldsOf(current));
  if (Object.keys(errors).length) throw new Refusal(422, 'The test case is not valid', errors);
  return db.transaction(async (trx) => {
    const other = (await namesTaken(trx, feature)).get(fields.name.toLowerCase());
    if (other && other.id !== caseId) throw new Refusal(422, 'The test case is not valid', { name: TAKEN });
    const [row] = current
      ? await trx('test_cases')
          .where({ id: current.id })
          .whereNull('deleted_at')
          .update({ ...columnsOf(fields), updated_at: trx.fn.now() })
          .returning('*')
      : await trx('test_cases')
          .insert(newRow(trx, feature, actor, fields))
          .returning('*');
    if (!row) throw notFound('Test case');
    await recordAudit(trx, actor, {
      action: current ? 'test_case.updated' : 'test_case.created',
      entityType: 'test_case',
      entityId: row.id,
      before: current && caseFieldsOf(current),
      after: { feature_id: feature.id, ...fields },
    });
    return row;
  });
}

/** Deletes a case (deleted_at set: runs keep what they ran); audited. */
export async function deleteTestCase(db: Db, actor: Actor, feature: FeatureRow, caseId: string): Promise<TestCaseRow> {
  const current = await findTestCase(db, feature.id, caseId);
  return db.transaction(async (trx) => {
    const [row] = await trx('test_cases')
      .where({ id: current.id })
      .whereNull('deleted_at')
      .update({ deleted_at: trx.fn.now() })
      .returning('*');
    if (!row) throw notFound('Test case');
    await recordAudit(trx, actor, {
      action: 'test_case.deleted',
      entityType: 'test_case',
      entityId: row.id,
      before: { feature_id: feature.id, ...caseFieldsOf(current) },
    });
    return row;
  });
}

/** The feature's cases as JSONL: one case per line, oldest first, each line ending in a line feed. */
export const casesJsonl = (rows: TestCaseRow[]) => rows.map((r) => `${JSON.stringify(caseFieldsOf(r))}\n`).join('');

/** A line the import refused: its number (from 1, blank lines counted) and why. */
export interface LineError {
  line: number;
  message: string;
}

/** Every line read and checked (an OpenAI Evals `{input, ideal}` sample as a case); the errors of all of them, not only the first. */
function readLines(text: string, ctx: CaseContext, taken: Map<string, TestCaseRow>, replace: boolean) {
  const cases: { line: number; fields: CaseFields }[] = [];
  const errors: LineError[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      return void errors.push({ line, message: `is not JSON (${(err as Error).message})` });
    }
    const { fields, errors: fieldErrors } = checkCase(fromOpenAiEvals(json, line, seen), ctx);
    const wrong = Object.entries(fieldErrors).map(([k, v]) => `${k} ${v}`);
    const key = fields.name.toLowerCase();
    if (fields.name && seen.has(key)) wrong.push(`name “${fields.name}” is already on line ${seen.get(key)}`);
    else if (fields.name && taken.has(key) && !replace) wrong.push(`name “${fields.name}” ${TAKEN} (import with replace to overwrite it)`);
    if (fields.name) seen.set(key, seen.get(key) ?? line);
    if (wrong.length) errors.push({ line, message: wrong.join('; ') });
    else cases.push({ line, fields });
  });
  if (!cases.length && !errors.length) errors.push({ line: 1, message: 'there is no case to import' });
  if (cases.length + errors.length > IMPORT_MAX_CASES)
    errors.unshift({ line: 1, message: `the file has more than ${IMPORT_MAX_CASES.toLocaleString('en')} cases` });
  return { cases, errors };
}

export interface Imported {
  created: number;
  replaced: number;
}

/**
 * Imports JSONL (one case per line; blank lines skipped): all or nothing. Any invalid line → 422 with
 * every invalid line's number and message, nothing written. A name the feature already has is refused
 * unless `replace`, which overwrites that case (it keeps its id and place). Audited as one entry.
 */
export async function importTestCases(db: Db, actor: Actor, feature: FeatureRow, text: string, replace: boolean): Promise<Imported> {
  if (Buffer.byteLength(text) > IMPORT_MAX_BYTES) throw importRefusal([{ line: 1, message: 'the file is larger than 1 MB' }]);
  const ctx = await caseContext(db, feature);
  return db.transaction(async (trx) => {
    const taken = await namesTaken(trx, feature);
    const { cases, errors } = readLines(text, ctx, taken, replace);
    if (errors.length) throw importRefusal(errors);
    const replaced: string[] = [];
    for (const { fields } of cases) {
      const existing = taken.get(fields.name.toLowerCase());
      if (existing) {
        replaced.push(existing.name);
        await trx('test_cases')
          .where({ id: existing.id })
          .update({ ...columnsOf(fields), updated_at: trx.fn.now() });
      } else await trx('test_cases').insert(newRow(trx, feature, actor, fields));
    }
    const result = { created: cases.length - replaced.length, replaced: replaced.length };
    await recordAudit(trx, actor, {
      action: 'test_cases.imported',
      entityType: 'feature',
      entityId: feature.id,
      after: { ...result, names: cases.map((c) => c.fields.name) },
    });
    return result;
  });
}

const importRefusal = (lines: LineError[]) =>
  new Refusal(
    422,
    `Nothing was imported: ${lines.length} line${lines.length === 1 ? ' is' : 's are'} not valid`,
    { jsonl: lines.map((l) => `line ${l.line}: ${l.message}`).join('\n') },
    { lines },
  );
