/** What Switchboard asks of a provider: one small interface, whatever is behind it. */
export interface ProviderAdapter {
  /**
   * A chat completion (or, for embedding models, an embedding) of a short input: the smoke request.
   * With a prompt, of that rendered prompt and its parameters (its answer capped at a few tokens).
   */
  smoke(model: string, modelType: 'llm' | 'vision' | 'embedding', prompt?: SmokePrompt): Promise<CallResult>;
  /** GET /models: the health probe. */
  probe(): Promise<CallResult>;
}

export interface CallResult {
  ok: boolean;
  latencyMs: number;
  /** Why it failed, safe to store and show (never a credential). */
  error?: string;
}

/** A rendered prompt version to smoke-test with (prompt activation). */
export interface SmokePrompt {
  input: string;
  temperature?: number;
  max_tokens?: number;
  stop?: string[];
}
