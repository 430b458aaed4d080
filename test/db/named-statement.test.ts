import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/knex.ts';
import { namedRaw } from '../../src/db/named-statement.ts';
import { databaseUrl } from '../setup/app.ts';

const db = createDb(databaseUrl(), 1);
afterAll(() => db.destroy());

describe('named reads (issue 19)', () => {
  it('when a binding name is used several times, then it is sent once and every use reads its value; casts stay casts', async () => {
    const raw = namedRaw(
      db,
      `SELECT :a::int + :a::int * :b::int AS n, :ids::uuid[] = :ids::uuid[] AS same, 'epoch'::timestamptz AS e, :a::int AS a`,
      { a: 3, b: 10, ids: '{00000000-0000-4000-8000-000000000001}' },
    );
    const native = raw.toSQL().toNative();
    expect(native.bindings).toEqual([3, 10, '{00000000-0000-4000-8000-000000000001}']);
    expect(native.sql).toBe(
      `SELECT $1::int + $1::int * $2::int AS n, $3::uuid[] = $3::uuid[] AS same, 'epoch'::timestamptz AS e, $1::int AS a`,
    );
    const { rows } = await raw;
    expect(rows[0]).toMatchObject({ n: 33, same: true, a: 3 });
    expect(new Date(rows[0].e).getTime()).toBe(0);
  });

  it('when bindings are positional, then they pass through in order', async () => {
    const { rows } = await namedRaw(db, 'SELECT ?::int - ?::int AS n', [7, 2]);
    expect(rows[0].n).toBe(5);
  });

  it('when a name binds an identifier or SQL, then it is refused before anything is sent', () => {
    expect(() => namedRaw(db, 'SELECT 1 FROM :table:', { table: 'ai_features' })).toThrow(/identifier/);
    expect(() => namedRaw(db, 'SELECT :x AS n', { x: db.raw('1') })).toThrow(/SQL, not a value/);
  });
});
