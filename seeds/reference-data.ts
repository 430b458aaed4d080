import type { ModelStatus, ModelType } from '../src/domain.ts';

/**
 * Reference data: the three features of the plan, the providers and a catalogue of models with
 * their published list prices (USD per 1k tokens; embeddings bill input tokens only).
 */
export const FEATURES = [
  {
    name: 'photo-tagging',
    display_name: 'Photo Tagging',
    description: 'Suggests tags for uploaded photos from what the image shows.',
    required_model_type: 'vision',
  },
  {
    name: 'chatbot',
    display_name: 'Chatbot',
    description: 'Answers customer questions in the in-app support chat.',
    required_model_type: 'llm',
  },
  {
    name: 'ai-search',
    display_name: 'AI Search',
    description: 'Semantic search over the product catalogue through text embeddings.',
    required_model_type: 'embedding',
  },
] as const;

export const PROVIDERS = [
  { name: 'openai', display_name: 'OpenAI', kind: 'openai-compatible', base_url: 'https://api.openai.com/v1', status: 'inactive' },
  { name: 'anthropic', display_name: 'Anthropic', kind: 'openai-compatible', base_url: 'https://api.anthropic.com/v1', status: 'inactive' },
  {
    name: 'google',
    display_name: 'Google',
    kind: 'openai-compatible',
    base_url: 'https://generativelanguage.googleapis.com/v1beta/openai',
    status: 'inactive',
  },
  // Served by the app itself: needs no key, so it is active from the start.
  { name: 'simulator', display_name: 'Simulator', kind: 'simulator', base_url: null, status: 'active' },
] as const;

export interface ModelSeed {
  provider: (typeof PROVIDERS)[number]['name'];
  name: string;
  display_name: string;
  model_type: ModelType;
  status: ModelStatus;
  input_price_per_1k: number;
  output_price_per_1k: number;
  context_window: number;
}

export const MODELS: ModelSeed[] = [
  {
    provider: 'openai',
    name: 'gpt-4o',
    display_name: 'GPT-4o',
    model_type: 'vision',
    status: 'available',
    input_price_per_1k: 0.0025,
    output_price_per_1k: 0.01,
    context_window: 128000,
  },
  {
    provider: 'openai',
    name: 'gpt-4o-mini',
    display_name: 'GPT-4o mini',
    model_type: 'llm',
    status: 'available',
    input_price_per_1k: 0.00015,
    output_price_per_1k: 0.0006,
    context_window: 128000,
  },
  {
    provider: 'openai',
    name: 'gpt-4.1',
    display_name: 'GPT-4.1',
    model_type: 'llm',
    status: 'available',
    input_price_per_1k: 0.002,
    output_price_per_1k: 0.008,
    context_window: 1047576,
  },
  {
    provider: 'openai',
    name: 'gpt-3.5-turbo',
    display_name: 'GPT-3.5 Turbo',
    model_type: 'llm',
    status: 'deprecated',
    input_price_per_1k: 0.0005,
    output_price_per_1k: 0.0015,
    context_window: 16385,
  },
  {
    provider: 'openai',
    name: 'gpt-4-vision-preview',
    display_name: 'GPT-4 Vision (preview)',
    model_type: 'vision',
    status: 'offline',
    input_price_per_1k: 0.01,
    output_price_per_1k: 0.03,
    context_window: 128000,
  },
  {
    provider: 'openai',
    name: 'text-embedding-3-small',
    display_name: 'Text Embedding 3 Small',
    model_type: 'embedding',
    status: 'available',
    input_price_per_1k: 0.00002,
    output_price_per_1k: 0,
    context_window: 8191,
  },
  {
    provider: 'openai',
    name: 'text-embedding-3-large',
    display_name: 'Text Embedding 3 Large',
    model_type: 'embedding',
    status: 'available',
    input_price_per_1k: 0.00013,
    output_price_per_1k: 0,
    context_window: 8191,
  },
  {
    provider: 'anthropic',
    name: 'claude-3-5-sonnet-20241022',
    display_name: 'Claude 3.5 Sonnet',
    model_type: 'llm',
    status: 'available',
    input_price_per_1k: 0.003,
    output_price_per_1k: 0.015,
    context_window: 200000,
  },
  {
    provider: 'anthropic',
    name: 'claude-3-5-haiku-20241022',
    display_name: 'Claude 3.5 Haiku',
    model_type: 'llm',
    status: 'available',
    input_price_per_1k: 0.0008,
    output_price_per_1k: 0.004,
    context_window: 200000,
  },
  {
    provider: 'anthropic',
    name: 'claude-3-opus-20240229',
    display_name: 'Claude 3 Opus',
    model_type: 'llm',
    status: 'deprecated',
    input_price_per_1k: 0.015,
    output_price_per_1k: 0.075,
    context_window: 200000,
  },
  {
    provider: 'google',
    name: 'gemini-1.5-pro',
    display_name: 'Gemini 1.5 Pro',
    model_type: 'vision',
    status: 'available',
    input_price_per_1k: 0.00125,
    output_price_per_1k: 0.005,
    context_window: 2097152,
  },
  {
    provider: 'google',
    name: 'gemini-1.5-flash',
    display_name: 'Gemini 1.5 Flash',
    model_type: 'vision',
    status: 'available',
    input_price_per_1k: 0.000075,
    output_price_per_1k: 0.0003,
    context_window: 1048576,
  },
  {
    provider: 'google',
    name: 'gemini-2.0-flash',
    display_name: 'Gemini 2.0 Flash',
    model_type: 'vision',
    status: 'beta',
    input_price_per_1k: 0.0001,
    output_price_per_1k: 0.0004,
    context_window: 1048576,
  },
  {
    provider: 'google',
    name: 'gemini-embedding-001',
    display_name: 'Gemini Embedding',
    model_type: 'embedding',
    status: 'beta',
    input_price_per_1k: 0.00015,
    output_price_per_1k: 0,
    context_window: 2048,
  },
  {
    provider: 'google',
    name: 'gemini-1.0-pro-vision',
    display_name: 'Gemini 1.0 Pro Vision',
    model_type: 'vision',
    status: 'offline',
    input_price_per_1k: 0.0005,
    output_price_per_1k: 0.0015,
    context_window: 16384,
  },
  {
    provider: 'simulator',
    name: 'sim-chat',
    display_name: 'Simulated chat model',
    model_type: 'llm',
    status: 'available',
    input_price_per_1k: 0,
    output_price_per_1k: 0,
    context_window: 32000,
  },
  {
    provider: 'simulator',
    name: 'sim-vision',
    display_name: 'Simulated vision model',
    model_type: 'vision',
    status: 'available',
    input_price_per_1k: 0,
    output_price_per_1k: 0,
    context_window: 32000,
  },
  {
    provider: 'simulator',
    name: 'sim-embed',
    display_name: 'Simulated embedding model',
    model_type: 'embedding',
    status: 'available',
    input_price_per_1k: 0,
    output_price_per_1k: 0,
    context_window: 8192,
  },
];
