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
 */
export function namedRaw(db: Knex, sql: string, bindings: Knex.RawBinding[] | Knex.ValueDict = []) {
  const raw = db.raw(sql, bindings as Knex.ValueDict);
  const name = `sb_${createHash('sha1').update(raw.toSQL().toNative().sql).digest('hex').slice(0, 32)}`;
  return raw.options({ name });
}
