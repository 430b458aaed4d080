import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * A raw read run as a named prepared statement of its connection: PostgreSQL parses and analyses its
 * text once per connection instead of on every call (the dashboards' UNION statements spent ~1.5 ms
 * there, more than reading their rows). Plans stay custom per call (plan_cache_mode =
 * force_custom_plan on every connection, see createDb), so each call is planned with its own window
 * and ids, as an unnamed statement is. The name is the hash of the text sent, so a text is never
 * given two names; only for reads whose text is fixed per kind of read (values in bindings): every
 * distinct text is one more statement kept by each connection.
 *
 * Named bindings (`:name`) become one parameter per name, however often the text uses it (knex would send
 * one per use: a 200-feature overview read sent its uuid[] of ids nine times, 69 parameters and 75 kB, and
 * spent 1.8 ms more binding them). Positional bindings (`?`) pass through.
 */
export function namedRaw(db: Knex, sql: string, bindings: Knex.RawBinding[] | Knex.ValueDict = []) {
  const raw = Array.isArray(bindings) ? db.raw(sql, bindings) : db.raw(...onePerName(sql, bindings));
  const name = `sb_${createHash('sha1').update(raw.toSQL().toNative().sql).digest('hex').slice(0, 32)}`;
  return raw.options({ name });
}

// knex's named binding syntax: `:name` a value, `:name:` an identifier; `::type` casts are neither.
const NAMED = /\\?(:(\w+):(?=::)|:(\w+):(?!:)|:(\w+))/g;

/**
 * `sql` with its named bindings as positional ones, one per name: each name's first use a `?` (which
 * knex numbers in order of appearance), its later uses that number again as `$n`. Names not in
 * `values` are left alone, as knex leaves them.
 */
function onePerName(sql: string, values: Knex.ValueDict): [string, Knex.RawBinding[]] {
  const numbers = new Map<string, number>();
  const ordered: Knex.RawBinding[] = [];
  const text = sql.replace(NAMED, (match, bound: string, ident1?: string, ident2?: string, name?: string) => {
    if (match !== bound) return bound;
    const key = ident1 ?? ident2 ?? name!;
    if (!Object.hasOwn(values, key)) return match;
    if (!name) throw new Error(`namedRaw: :${key}: binds an identifier; name it in the text`);
    if (typeof (values[key] as { toSQL?: unknown } | null)?.toSQL === 'function') throw new Error(`namedRaw: :${key} is SQL, not a value`);
    const n = numbers.get(key);
    if (n !== undefined) return `$${n}`;
    ordered.push(values[key] as Knex.RawBinding);
    numbers.set(key, ordered.length);
    return '?';
  });
  return [text, ordered];
}
