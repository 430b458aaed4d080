/** What Switchboard asks of a provider: one small interface, whatever is behind it. */
export interface ProviderAdapter {
  /**
   * A chat completion (or, for embedding models, an embedding) of a short input: the smoke request.
   * With a prompt, of that rendered prompt and its parameters (its answer capped at a few tokens).
   */
  smoke(model: string, modelType: 'llm' | 'vision' | 'embedding', prompt?: SmokePrompt): Promise<CallResult>;
  /** A playground or test call: a chat completion of `input` (or of `messages`), or an embedding of `input`, with what it answered. */
  send(model: string, modelType: 'llm' | 'vision' | 'embedding', request: SendRequest): Promise<SendResult>;
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

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What a playground or test call sends: a rendered prompt (or messages) and its parameters. */
export interface SendRequest extends SmokePrompt {
  messages?: ChatMessage[];
}

/** A call's result with its answer: the text (chat) or the vector (embedding), and the tokens the provider counted. */
export interface SendResult extends CallResult {
  text?: string;
  embedding?: number[];
  inputTokens?: number;
  outputTokens?: number;
}
