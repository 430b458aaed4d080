import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeProvider {
  url: string;
  /** Every request it received. */
  hits: { method?: string; url?: string; auth?: string }[];
  close(): Promise<void>;
}

/** A local HTTP server standing in for a provider: records every request and answers as told. */
export async function fakeProvider(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<FakeProvider> {
  const hits: FakeProvider['hits'] = [];
  const server = http.createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
