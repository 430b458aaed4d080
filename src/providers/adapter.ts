/** What Switchboard asks of a provider: one small interface, whatever is behind it. */
export interface ProviderAdapter {
  /** A chat completion (or, for embedding models, an embedding) of a short input: the smoke request. */
  smoke(model: string, modelType: 'llm' | 'vision' | 'embedding'): Promise<CallResult>;
  /** GET /models: the health probe. */
  probe(): Promise<CallResult>;
}

export interface CallResult {
  ok: boolean;
  latencyMs: number;
  /** Why it failed, safe to store and show (never a credential). */
  error?: string;
}
