import dns, { type LookupAddress, type LookupAllOptions } from 'node:dns';
import net, { type LookupFunction } from 'node:net';

// Cloud metadata services answer on these names and addresses; a provider URL pointing there would
// let whoever edits providers read the host's credentials through a probe or a smoke request.
const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);
const METADATA_ADDRESSES = new Set(['169.254.169.254', '100.100.100.200', '168.63.129.16', 'fd00:ec2::254']);

/** The 16 bytes of an IPv6 address (valid per net.isIPv6), dotted IPv4 tails included. */
function ipv6Bytes(address: string): number[] {
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  const text = dotted ? address.replace(dotted[1], '0:0') : address;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const words = (part: string | undefined) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const left = words(head);
  const right = words(tail);
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  const bytes = all.flatMap((w) => [w >> 8, w & 0xff]);
  if (dotted) bytes.splice(12, 4, ...dotted[1].split('.').map(Number));
  return bytes;
}

/**
 * The IPv4 address an address stands for: itself, or the IPv4 inside an IPv4-mapped (::ffff:a.b.c.d,
 * in any spelling), IPv4-compatible (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d) or NAT64
 * (64:ff9b::/96 and the local-use 64:ff9b:1::/48) IPv6 address.
 */
function ipv4Of(address: string): string | undefined {
  if (net.isIPv4(address)) return address;
  if (!net.isIPv6(address)) return undefined;
  const b = ipv6Bytes(address);
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const mapped = zeros(0, 10) && b[10] === 0xff && b[11] === 0xff;
  const compatible = zeros(0, 12) && !zeros(12, 16);
  const translated = zeros(0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(10, 12);
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && (zeros(4, 12) || (b[4] === 0 && b[5] === 1));
  return mapped || compatible || translated || nat64 ? b.slice(12).join('.') : undefined;
}

/** Link-local (169.254.0.0/16, fe80::/10) or a known metadata address, IPv4-mapped forms included. */
export function isForbiddenAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const v4 = ipv4Of(bare);
  if (v4) return v4.startsWith('169.254.') || METADATA_ADDRESSES.has(v4);
  if (!net.isIPv6(bare)) return false;
  return /^fe[89ab][0-9a-f]:/.test(bare) || METADATA_ADDRESSES.has(bare);
}

/** Why a provider base URL cannot be used, or null when it can (checked as written, without DNS). */
export function baseUrlProblem(value: string): string | null {
  let url: URL;
  if (!/^https?:\/\//i.test(value)) return 'must start with http:// or https://';
  // The adapter appends /models, /chat/completions…: a query or fragment (even an empty ? or #) would
  // turn those into something else.
  if (/[?#]/.test(value)) return 'must not contain a query string or fragment';
  if (/[\u0000-\u0020\u007f]/.test(value)) return 'must not contain spaces or control characters';
  try {
    url = new URL(value);
  } catch {
    return 'must be a full URL such as https://api.example.com/v1';
  }
  if (url.username || url.password) return 'must not contain a user name or password (put the key in the API key field)';
  const host = url.hostname.replace(/\.$/, '').toLowerCase();
  if (METADATA_HOSTS.has(host) || isForbiddenAddress(host)) return 'must not point to a link-local or cloud metadata address';
  return null;
}

/** A valid base URL as stored: the parser's spelling (scheme and host in lower case), without trailing slashes. */
export const normalBaseUrl = (value: string) => new URL(value).href.replace(/\/+$/, '');

/** A name that resolved to a link-local or metadata address: the connection is never made. */
export class ForbiddenAddressError extends Error {
  readonly code = 'EFORBIDDENADDRESS';
}

type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for http.request: resolves the name once, refuses it when any address is link-local or
 * metadata, and hands the socket exactly the addresses it checked (no second lookup to rebind).
 * A failed lookup fails the call (closed, never open).
 */
export function guardedLookup(resolve: Resolve = dns.lookup as unknown as Resolve): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (addresses.some((a) => isForbiddenAddress(a.address)))
        return callback(new ForbiddenAddressError(`${hostname} resolves to a forbidden address`), '', 0);
      if ((options as LookupAllOptions).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
