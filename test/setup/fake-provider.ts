import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeProvider {
  url: string;
  /** Every request it received. */
  hits: { method?: string; url?: string; auth?: string }[];
  /** Resolves once `count` requests in all have arrived: "the call is under way", without guessing how long that takes. */
  received(count?: number): Promise<void>;
  close(): Promise<void>;
}

/** A local HTTP server standing in for a provider: records every request and answers as told. */
export async function fakeProvider(answer: Answer): Promise<FakeProvider> {
  const hits: FakeProvider['hits'] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    for (const w of waiting.filter((w) => hits.length >= w.count)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    hits,
    received: (count = 1) => (hits.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ count, resolve }))),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** What GET /models answers (the probe). */
export const MODEL_LIST = { object: 'list', data: [{ id: 'm', object: 'model' }] };
/** What POST /chat/completions answers (an llm's smoke request). */
export const CHAT_COMPLETION = {
  id: 'chatcmpl-test',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
};

/** An answer with this JSON body; held back until `after` settles when given (a gate the test opens). */
export const answerJson =
  (body: unknown, o: { status?: number; after?: Promise<void> } = {}): Answer =>
  (_req, res) =>
    void (o.after ?? Promise.resolve()).then(() => {
      res.statusCode = o.status ?? 200;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(body));
    });

/** A gate: whatever waits on `opened` goes on when the test calls `open()`. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
