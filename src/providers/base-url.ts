import dns, { type LookupAddress, type LookupAllOptions } from 'node:dns';
import net, { BlockList, type LookupFunction } from 'node:net';

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

/**
 * Addresses that are not the public internet: this host (loopback, 0.0.0.0/8, unspecified), private
 * networks (10/8, 172.16/12, 192.168/16, fc00::/7, the old fec0::/10), carrier-grade NAT (100.64/10),
 * IETF and benchmarking blocks, multicast and the reserved block up to broadcast. A provider there is
 * called only when the operator allows it (PROVIDER_ALLOWED_PRIVATE).
 */
const PRIVATE = new BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(address, prefix, 'ipv6');

/** A host as written in a URL or a setting: no brackets, no trailing dot, lower case. */
const bareHost = (host: string) =>
  host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();

/** An IP address as one family (the IPv4 inside a mapped or NAT64 IPv6 address taken out); undefined for a name. */
function ipOf(address: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const bare = bareHost(address);
  const v4 = ipv4Of(bare);
  if (v4) return { address: v4, type: 'ipv4' };
  return net.isIPv6(bare) ? { address: bare, type: 'ipv6' } : undefined;
}

/** Loopback, private, CGNAT, unspecified, multicast or reserved (in any spelling, IPv4-mapped included). */
export function isPrivateAddress(address: string): boolean {
  const ip = ipOf(address);
  return ip !== undefined && PRIVATE.check(ip.address, ip.type);
}

/** Names that mean this host whatever DNS says (RFC 6761). */
const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

/** The operator's exceptions to the private ranges: host names as written, and networks (CIDR or one address). */
export interface PrivateAllowance {
  readonly hosts: ReadonlySet<string>;
  readonly networks: BlockList;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** The longest prefix of a CIDR block on this address: 32 for dotted IPv4, 128 for plain IPv6, undefined otherwise. */
const maxPrefix = (address: string) => (net.isIPv4(address) ? 32 : net.isIPv6(address) && !ipv4Of(address) ? 128 : undefined);

/** Why an entry of PROVIDER_ALLOWED_PRIVATE is not a host name, an IP address or a CIDR block, or null. */
export function allowanceEntryProblem(entry: string): string | null {
  const [address, prefix, extra] = entry.split('/');
  if (extra === undefined && prefix === undefined && (ipOf(address) || HOST_NAME.test(bareHost(address)))) return null;
  const max = maxPrefix(address);
  if (extra === undefined && max !== undefined && /^\d{1,3}$/.test(prefix ?? '') && Number(prefix) <= max) return null;
  return `${entry} is not a host name, an IP address or a CIDR block such as 10.0.0.0/8`;
}

/** The allowance for a list of entries (each checked by allowanceEntryProblem: a bad entry throws). */
export function privateAllowance(entries: readonly string[]): PrivateAllowance {
  const hosts = new Set<string>();
  const networks = new BlockList();
  for (const entry of entries) {
    const problem = allowanceEntryProblem(entry);
    if (problem) throw new Error(problem);
    const [address, prefix] = entry.split('/');
    const ip = ipOf(address);
    if (!ip) hosts.add(bareHost(address));
    else if (prefix === undefined) networks.addAddress(ip.address, ip.type);
    else networks.addSubnet(ip.address, Number(prefix), ip.type);
  }
  return { hosts, networks };
}

/** No private address at all: the default. */
export const NO_PRIVATE: PrivateAllowance = privateAllowance([]);

/**
 * Whether a connection to `address` (reached through the name `host`) may be made: never to a
 * link-local or metadata address; to a private one only when the allowance names the host or covers
 * the address.
 */
export function isAllowedAddress(address: string, host: string, allowance: PrivateAllowance): boolean {
  if (isForbiddenAddress(address)) return false;
  const ip = ipOf(address);
  if (!ip || !PRIVATE.check(ip.address, ip.type)) return true;
  return allowance.hosts.has(bareHost(host)) || allowance.networks.check(ip.address, ip.type);
}

const PRIVATE_PROBLEM = 'must not point to a private or loopback address unless PROVIDER_ALLOWED_PRIVATE allows it';

/**
 * Why a valid base URL points somewhere private that the allowance does not cover, judged as written
 * (an IP literal, or localhost by name); names are checked when they are resolved, at every call.
 */
export function privateAddressProblem(value: string, allowance: PrivateAllowance): string | null {
  const host = bareHost(new URL(value).hostname);
  const addresses = isLocalhostName(host) ? ['127.0.0.1', '::1'] : ipOf(host) ? [host] : [];
  return addresses.every((a) => isAllowedAddress(a, host, allowance)) ? null : PRIVATE_PROBLEM;
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

/** A name that resolved to an address that may not be called (link-local, metadata, or private and not allowed). */
export class ForbiddenAddressError extends Error {
  readonly code = 'EFORBIDDENADDRESS';
}

type Resolve = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for http.request: resolves the name once, refuses it when any address may not be called
 * (link-local or metadata always; private unless the allowance covers it), and hands the socket
 * exactly the addresses it checked (no second lookup to rebind). A failed lookup fails the call
 * (closed, never open).
 */
export function guardedLookup(
  resolve: Resolve = dns.lookup as unknown as Resolve,
  allowance: PrivateAllowance = NO_PRIVATE,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (addresses.some((a) => !isAllowedAddress(a.address, hostname, allowance)))
        return callback(new ForbiddenAddressError(`${hostname} resolves to an address that may not be called`), '', 0);
      if ((options as LookupAllOptions).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
