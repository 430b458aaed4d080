import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

/** What a receiver answered: its status and Retry-After (seconds), or why nothing was answered. */
export type PostResult = { status: number; retryAfterS: number | null } | { error: string };

/** Retry-After as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined, now: Date): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/**
 * POSTs a body through node:http(s) with the guarded lookup (the name resolved once, private and
 * metadata addresses refused as for providers). Redirects are never followed: a 3xx is an answer
 * like any other non-2xx. The answer's body is read and dropped.
 */
export function postBody(
  url: string,
  body: string,
  headers: Record<string, string>,
  lookup: LookupFunction,
  timeoutMs: number,
  now: Date,
): Promise<PostResult> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const req = (target.protocol === 'https:' ? https : http).request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfterS: retryAfterSeconds(res.headers['retry-after'], now) }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, retryAfterS: null }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({
        error:
          err.name === 'TimeoutError' || err.name === 'AbortError'
            ? `no answer within ${timeoutMs} ms`
            : 'the receiver could not be reached (nothing answered, or its address is not allowed)',
      }),
    );
    req.end(body);
  });
}
