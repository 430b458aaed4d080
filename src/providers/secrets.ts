import crypto from 'node:crypto';

// Provider credentials at rest: AES-256-GCM under SECRETS_KEY, stored as iv (12) ‖ tag (16) ‖ ciphertext.
// The owner's id is authenticated with it (AAD): a ciphertext copied to another provider row, which
// may point elsewhere, does not open there.
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function encryptSecret(key: Buffer, plaintext: string, ownerId: string): Buffer {
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(ownerId, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Throws when the ciphertext was altered, made under another key, or sealed for another owner. */
export function decryptSecret(key: Buffer, sealed: Buffer, ownerId: string): string {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new Error('not a sealed secret');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  decipher.setAAD(Buffer.from(ownerId, 'utf8'));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
