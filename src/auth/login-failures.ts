import crypto from 'node:crypto';
import type { Options, Store } from 'express-rate-limit';
import type { Db } from '../db/knex.ts';

const CLEANUP_EVERY_MS = 60_000;

/**
 * An express-rate-limit store in PostgreSQL (`login_failures`), so every app instance on the database
 * counts the same failures. A fixed window per key: the first hit sets `reset_at`, a hit after it
 * starts a new window; one statement, so concurrent hits from several instances all count. Keys are
 * stored as an HMAC under `secret` (with `scope` inside it: see AppConfig.loginLimitScope).
 */
export class PgFailureStore implements Store {
  readonly localKeys = false;
  private windowMs = 60_000;
  private lastCleanup = 0;

  constructor(
    private readonly db: Db,
    private readonly secret: Buffer,
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  private hashed(key: string): string {
    return crypto.createHmac('sha256', this.secret).update(`${this.prefix}\0${key}`).digest('base64url');
  }

  async increment(key: string): Promise<{ totalHits: number; resetTime: Date }> {
    await this.cleanup();
    const { rows } = await this.db.raw(
      `INSERT INTO login_failures AS f (key, hits, reset_at) VALUES (?, 1, now() + make_interval(secs => ?))
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN f.reset_at <= now() THEN 1 ELSE f.hits + 1 END,
         reset_at = CASE WHEN f.reset_at <= now() THEN excluded.reset_at ELSE f.reset_at END
       RETURNING hits, reset_at`,
      [this.hashed(key), this.windowMs / 1000],
    );
    return { totalHits: rows[0].hits, resetTime: rows[0].reset_at };
  }

  async decrement(key: string): Promise<void> {
    await this.db('login_failures')
      .where({ key: this.hashed(key) })
      .andWhere('reset_at', '>', this.db.fn.now())
      .update({ hits: this.db.raw('greatest(hits - 1, 0)') });
  }

  async resetKey(key: string): Promise<void> {
    await this.db('login_failures')
      .where({ key: this.hashed(key) })
      .delete();
  }

  /** Expired windows are dropped now and then (at most once a minute per store). */
  private async cleanup(): Promise<void> {
    if (Date.now() - this.lastCleanup < CLEANUP_EVERY_MS) return;
    this.lastCleanup = Date.now();
    await this.db('login_failures').where('reset_at', '<', this.db.fn.now()).delete();
  }
}
