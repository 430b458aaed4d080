import argon2 from 'argon2';
import { z } from 'zod';
import { passwordWeakness } from '../auth/password-strength.ts';
import type { Role, SessionUser } from '../auth/principal.ts';
import type { Db } from '../db/knex.ts';
import { Refusal } from '../http/errors.ts';
import { type Actor, recordAudit } from './audit.ts';

export const newUserSchema = z.object({
  email: z.string().trim().toLowerCase().max(254).email('must be a valid email address'),
  password: z.string().min(12, 'must be at least 12 characters').max(256),
  role: z.enum(['admin', 'viewer']).default('admin'),
});

// Verifying against this when the email is unknown makes both answers take the same time.
const DUMMY_HASH = argon2.hash('switchboard-timing-equaliser', { type: argon2.argon2id });

export async function createUser(db: Db, actor: Actor, input: { email: string; password: string; role?: Role }): Promise<SessionUser> {
  const parsed = newUserSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Refusal(422, `${issue.path.join('.')} ${issue.message}`);
  }
  const { email, password, role } = parsed.data;
  // Offline (zxcvbn's bundled dictionaries): common and breached passwords, keyboard walks, the email itself.
  const weakness = passwordWeakness(password, [email]);
  if (weakness) throw new Refusal(422, `password ${weakness}`, { password: weakness });
  const password_hash = await argon2.hash(password, { type: argon2.argon2id });
  return db.transaction(async (trx) => {
    const taken = await trx('users').whereRaw('lower(email) = ?', [email]).first('id');
    if (taken) throw new Refusal(409, `A user with email ${email} already exists`);
    const [user] = await trx('users').insert({ email, password_hash, role }).returning(['id', 'email', 'role']);
    await recordAudit(trx, actor, { action: 'user.created', entityType: 'user', entityId: user.id, after: { email, role } });
    return user;
  });
}

/** The user for these credentials, or null; the same work is done whether or not the email exists. */
export async function verifyCredentials(db: Db, email: string, password: string): Promise<SessionUser | null> {
  const row = await db('users').whereRaw('lower(email) = ?', [email.trim().toLowerCase()]).first('id', 'email', 'role', 'password_hash');
  const hash = row?.password_hash ?? (await DUMMY_HASH);
  const ok = await argon2.verify(hash, password).catch(() => false);
  if (!row || !ok) return null;
  await db('users').where({ id: row.id }).update({ last_login_at: db.fn.now() });
  return { id: row.id, email: row.email, role: row.role };
}

export async function findSessionUser(db: Db, id: string): Promise<SessionUser | undefined> {
  return db('users').where({ id }).first('id', 'email', 'role');
}

export async function countUsers(db: Db): Promise<number> {
  const [{ n }] = await db('users').count({ n: '*' });
  return Number(n);
}
