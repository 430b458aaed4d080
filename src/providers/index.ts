import { decryptSecret } from '../services/secrets.ts';
import type { ProviderAdapter } from './adapter.ts';
import { openAiCompatible } from './openai-compatible.ts';
import { type Simulator, startSimulator } from './simulator.ts';

export interface ProviderRecord {
  kind: 'openai-compatible' | 'simulator';
  base_url: string | null;
  api_key_ciphertext: Buffer | null;
}

export interface Providers {
  /** The adapter for a provider row: its own base URL and its own credential, nothing else. */
  adapterFor(provider: ProviderRecord): Promise<ProviderAdapter>;
  simulator(): Promise<Simulator>;
  close(): Promise<void>;
}

/** Adapters for the providers in the database; the simulator starts on first use. */
export function createProviders(o: { secretsKey: Buffer; timeoutMs: number }): Providers {
  let simulator: Promise<Simulator> | undefined;
  const sim = () => (simulator ??= startSimulator());
  return {
    simulator: sim,
    async adapterFor(p) {
      const apiKey = p.api_key_ciphertext ? decryptSecret(o.secretsKey, p.api_key_ciphertext) : undefined;
      const baseUrl = p.kind === 'simulator' ? (await sim()).url : p.base_url!;
      return openAiCompatible({ baseUrl, apiKey, timeoutMs: o.timeoutMs });
    },
    async close() {
      if (simulator) await (await simulator).close();
    },
  };
}
