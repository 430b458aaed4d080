import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { passwordWeakness } from '../../src/auth/password-strength.ts';
import { ensureDemoAdmin } from '../../src/db/demo-admin.ts';
import { createDb } from '../../src/db/knex.ts';
import { migrateLatest } from '../../src/db/migrate.ts';
import { createUser } from '../../src/services/users.ts';
import { databaseUrl } from '../setup/app.ts';
import { suffix } from '../setup/factories.ts';
import { withScratchDatabase } from '../setup/scratch-db.ts';

const SYSTEM = { kind: 'system', label: 'test' } as const;
const db = createDb(databaseUrl(), 2);
afterAll(() => db.destroy());

/** Long enough (≥ 12), and still among the first guesses of any cracker. */
const WEAK = [
  'password1234',
  'Password123!',
  'qwertyuiop123',
  'aaaaaaaaaaaa',
  '123456789012',
  'iloveyou1234',
  'abcdefghijkl',
  'switchboard1',
  '1qaz2wsx3edc',
];

describe('createUser', () => {
  it.each(WEAK)('when the password is %j, then 422 with the estimator’s advice and no user', async (password) => {
    const email = `weak-${suffix()}@example.test`;
    const err = await createUser(db, SYSTEM, { email, password }).catch((e: Error & { status?: number }) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { status?: number }).status).toBe(422);
    expect((err as Error).message).toMatch(/^password is too easy to guess: \S/);
    expect(await db('users').where({ email }).first()).toBeUndefined();
  });

  it('when the password is the account’s own email or its name, then it is refused', async () => {
    const local = `margaretthatcher${suffix()}`;
    const email = `${local}@example.test`;
    for (const password of [email, `${local}1!`]) {
      await expect(createUser(db, SYSTEM, { email, password })).rejects.toThrow(/too easy to guess/);
    }
  });

  it('when the password is shorter than 12 characters, then the length is what is said (first rule)', async () => {
    await expect(createUser(db, SYSTEM, { email: `s-${suffix()}@example.test`, password: 'Tr0ub4dor&3' })).rejects.toThrow(
      'password must be at least 12 characters',
    );
  });

  it('when the password is a passphrase or random, then the user is created', async () => {
    for (const password of ['correct-horse-battery-staple', 'a-long-enough-password', crypto.randomBytes(12).toString('base64url')]) {
      const email = `strong-${suffix()}@example.test`;
      await createUser(db, SYSTEM, { email, password });
      expect(await db('users').where({ email }).first('id')).toBeTruthy();
    }
  });
});

describe('the demo admin', () => {
  it('when its password is generated (12 random bytes, base64url), then it always passes', () => {
    for (let i = 0; i < 300; i++) {
      const password = crypto.randomBytes(12).toString('base64url');
      expect(passwordWeakness(password, ['admin@switchboard.local']), password).toBeNull();
    }
  });

  it('when a first embedded start creates it, then it is created', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-demo-admin-'));
    try {
      await withScratchDatabase(async (scratch) => {
        await migrateLatest(scratch);
        const admin = await ensureDemoAdmin(scratch, dir);
        expect(admin?.password).toMatch(/^[\w-]{16}$/);
        expect(await scratch('users').count({ n: '*' })).toEqual([{ n: 1 }]);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run admin:create', () => {
  it('when the password is common, then one clear line with the advice, a non-zero exit and no user', async () => {
    const email = `cli-weak-${suffix()}@example.test`;
    const run = promisify(execFile);
    const result = await run(
      path.resolve('node_modules/.bin/tsx'),
      ['src/cli/admin-create.ts', '--email', email, '--password', 'password1234'],
      {
        env: { ...process.env, DATABASE_URL: databaseUrl(), SEED_DEMO: '0' },
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect('code' in result && result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'password is too easy to guess: This is similar to a commonly used password. Add more words that are less common.',
    );
    expect(await db('users').where({ email }).first()).toBeUndefined();
  });
});
