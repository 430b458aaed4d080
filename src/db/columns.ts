import type { Tables } from 'knex/types/tables.js';
import type { Row } from './tables.ts';

// Knex types a query on one table by its name (src/db/tables.ts), but not a join of aliased tables
// ('ai_models as m'): its rows are `any`. A joined query names its columns in a map instead,
// { provider_name: 'p.name' }, checked against the tables: a column that does not exist fails tsc,
// and the row type is derived from the map, so it cannot drift from what the query selects.

/** The tables a query joins, by alias: { m: 'ai_models', p: 'ai_providers' }. */
type Aliases = Record<string, keyof Tables>;

/** `alias.column` of a column that exists: 'm.name' only while ai_models has a name. */
export type ColumnOf<A extends Aliases> = { [K in keyof A & string]: `${K}.${keyof Row<A[K]> & string}` }[keyof A & string];

/** What a column map selects: output name → the column it reads. */
export type ColumnMap<A extends Aliases> = Record<string, ColumnOf<A>>;

/** The row a column map gives: each output key typed as the column it reads. */
export type Selected<A extends Aliases, M extends ColumnMap<A>> = {
  -readonly [K in keyof M]: M[K] extends `${infer T extends keyof A & string}.${infer C}`
    ? C extends keyof Row<A[T]>
      ? Row<A[T]>[C]
      : never
    : never;
};

/** A selected row with some columns as the query makes them: null through a left join, not null under a filter. */
export type Adjusted<R, O extends Partial<Record<keyof R, unknown>>> = Omit<R, keyof O> & O;

/** The map as Knex columns: ['p.name as provider_name', …]. */
export const columns = (map: Readonly<Record<string, string>>): string[] => Object.entries(map).map(([as, column]) => `${column} as ${as}`);

/** A model joined to its provider (`ai_models as m`, `ai_providers as p`), the join most reads make. */
export type ModelJoin = { m: 'ai_models'; p: 'ai_providers' };

/** What names a model and says what it is: the start of every model column map. */
export const MODEL_IDENTITY = {
  id: 'm.id',
  name: 'm.name',
  display_name: 'm.display_name',
  model_type: 'm.model_type',
  status: 'm.status',
} as const satisfies ColumnMap<ModelJoin>;
