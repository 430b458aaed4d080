import type { Db } from '../../src/db/knex.ts';
import type { Row } from '../../src/db/tables.ts';
import { suffix } from './factories.ts';

/** A test case written straight to the table (issue 16): a user message "hi" and no assertion unless told. */
export async function makeTestCase(db: Db, featureId: string, fields: Partial<Omit<Row<'test_cases'>, 'id' | 'feature_id'>> = {}) {
  const { input, assertions, ...rest } = fields;
  const [row] = await db('test_cases')
    .insert({
      feature_id: featureId,
      name: `case ${suffix()}`,
      created_by: 'test',
      input: JSON.stringify(input ?? { messages: [{ role: 'user', content: 'hi' }] }),
      assertions: JSON.stringify(assertions ?? []),
      ...rest,
    })
    .returning('*');
  return row;
}
