import type { ProviderAdapter } from './adapter.ts';
import { openAiCompatible } from './openai-compatible.ts';
import { decryptSecret, encryptSecret } from './secrets.ts';
import { type Simulator, startSimulator } from './simulator.ts';

export interface ProviderRecord {
  id: string;
  kind: 'openai-compatible' | 'simulator';
  base_url: string | null;
  api_key_ciphertext: Buffer | null;
}

export interface Providers {
  /** The adapter for a provider row: its own base URL and its own credential, nothing else. */
  adapterFor(provider: ProviderRecord): Promise<ProviderAdapter>;
  simulator(): Promise<Simulator>;
  /** Seals a provider's API key for storage (AES-256-GCM under SECRETS_KEY, bound to the provider's id). */
  sealKey(plaintext: string, providerId: string): Buffer;
  close(): Promise<void>;
}

/** The stored key does not open with SECRETS_KEY. */
export class UnreadableKeyError extends Error {}

/** Adapters for the providers in the database; the simulator starts on first use (and again after a failed start). */
export function createProviders(o: { secretsKey: Buffer; timeoutMs: number }): Providers {
  let simulator: Promise<Simulator> | undefined;
  const sim = () => {
    simulator ??= startSimulator();
    simulator.catch(() => (simulator = undefined));
    return simulator;
  };
  const keyOf = (sealed: Buffer, providerId: string) => {
    try {
      return decryptSecret(o.secretsKey, sealed, providerId);
    } catch {
      throw new UnreadableKeyError('the stored API key cannot be decrypted');
    }
  };
  return {
    simulator: sim,
    sealKey: (plaintext, providerId) => encryptSecret(o.secretsKey, plaintext, providerId),
    async adapterFor(p) {
      const apiKey = p.api_key_ciphertext ? keyOf(p.api_key_ciphertext, p.id) : undefined;
      const baseUrl = p.kind === 'simulator' ? (await sim()).url : p.base_url!;
      return openAiCompatible({ baseUrl, apiKey, timeoutMs: o.timeoutMs });
    },
    async close() {
      if (simulator) await (await simulator).close();
    },
  };
}
