import type { LookupFunction } from 'node:net';
import type { ProviderAdapter } from './adapter.ts';
import { guardedLookup, NO_PRIVATE, type PrivateAllowance, privateAddressProblem, privateAllowance } from './base-url.ts';
import { openAiCompatible } from './openai-compatible.ts';
import { decryptSecret, encryptSecret } from './secrets.ts';
import { type BehaviourSource, type Simulator, startSimulator } from './simulator.ts';

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
  /** Why a base URL (valid as written) points to a private address that PROVIDER_ALLOWED_PRIVATE does not allow, or null. */
  privateAddressProblem(baseUrl: string): string | null;
  /** Opens a secret sealed by sealKey for the same owner (notification channels' secrets); throws UnreadableKeyError. */
  openKey(sealed: Buffer, ownerId: string): string;
  /** Name resolution under the same rules as provider calls (PROVIDER_ALLOWED_PRIVATE), for other outbound calls. */
  lookup: LookupFunction;
  close(): Promise<void>;
}

const simulatorAllowance = (url: string): PrivateAllowance => privateAllowance([new URL(url).hostname]);

/** The stored key does not open with SECRETS_KEY. */
export class UnreadableKeyError extends Error {}

/** Adapters for the providers in the database; the simulator starts on first use (and again after a failed start). */
export function createProviders(o: {
  secretsKey: Buffer;
  timeoutMs: number;
  allowedPrivate?: readonly string[];
  /** The simulator's stored behaviours (the database's, in the app). */
  behaviours?: BehaviourSource;
}): Providers {
  const allowance = o.allowedPrivate ? privateAllowance(o.allowedPrivate) : NO_PRIVATE;
  let simulator: Promise<Simulator> | undefined;
  const sim = () => {
    simulator ??= startSimulator(o.behaviours);
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
    privateAddressProblem: (baseUrl) => privateAddressProblem(baseUrl, allowance),
    openKey: keyOf,
    lookup: guardedLookup(undefined, allowance),
    async adapterFor(p) {
      const apiKey = p.api_key_ciphertext ? keyOf(p.api_key_ciphertext, p.id) : undefined;
      if (p.kind !== 'simulator') return openAiCompatible({ baseUrl: p.base_url!, apiKey, timeoutMs: o.timeoutMs, allowance });
      // The simulator is this app's own, on loopback: its one address is allowed by construction.
      const { url } = await sim();
      return openAiCompatible({ baseUrl: url, apiKey, timeoutMs: o.timeoutMs, allowance: simulatorAllowance(url) });
    },
    async close() {
      if (simulator) await (await simulator).close();
    },
  };
}
