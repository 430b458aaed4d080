import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * What an embedded-mode install keeps between starts in DATA_DIR/instance.json (mode 0600):
 * the embedded cluster's password and port, and the secrets generated on first start.
 */
export interface LocalInstance {
  pgPassword: string;
  pgPort: number;
  sessionSecret: string;
  secretsKey: string;
}

const fileOf = (dataDir: string) => path.join(dataDir, 'instance.json');

function readLocalInstance(dataDir: string): LocalInstance | undefined {
  const file = fileOf(dataDir);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as LocalInstance;
}

export function writeLocalInstance(dataDir: string, instance: LocalInstance): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(fileOf(dataDir), JSON.stringify(instance, null, 2), { mode: 0o600 });
}

/** Reads DATA_DIR/instance.json, creating it with fresh random secrets on first start. */
export function loadOrCreateLocalInstance(dataDir: string, defaultPort: number): LocalInstance {
  const existing = readLocalInstance(dataDir);
  if (existing) return existing;
  const created: LocalInstance = {
    pgPassword: crypto.randomBytes(18).toString('base64url'),
    pgPort: defaultPort,
    sessionSecret: crypto.randomBytes(32).toString('base64url'),
    secretsKey: crypto.randomBytes(32).toString('hex'),
  };
  writeLocalInstance(dataDir, created);
  return created;
}
