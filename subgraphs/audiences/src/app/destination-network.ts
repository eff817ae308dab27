/**
 * Where webhook destinations may point. A destination URL is chosen by whoever holds a service
 * token, and the audiences subgraph then POSTs to it from inside the platform's network: without
 * a guard that is a server-side request forgery, a way to reach the metadata endpoint of a cloud
 * machine (169.254.169.254), Redis, or another service's internal port. So, unless private
 * networks are allowed (AUDIENCE_DESTINATION_PRIVATE_NETWORKS, on by default only outside
 * production, where webhooks under test run on this machine), a destination may not resolve to a
 * loopback, private, link-local, carrier-grade NAT, multicast or otherwise reserved address.
 *
 * The check runs twice: on the URL when the destination is added (an address literal, or a name
 * such as `localhost`, is refused at once with a reason), and on every address the name resolves
 * to when a delivery connects (undici's connect `lookup`), so DNS that answers with a private
 * address later (rebinding) is refused too, and the request never leaves.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96], // NAT64 of IPv4 addresses
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** True for an address a destination may not reach (IPv4-mapped IPv6 checked as its IPv4). */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true; // not an address: nothing to connect to
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export const PRIVATE_DESTINATION = 'refused: the destination resolves to a private, loopback or link-local address (AUDIENCE_DESTINATION_PRIVATE_NETWORKS allows it)';

/**
 * Why a destination URL may not be used, checked without DNS (the host as written), or null.
 * Names are checked again, on every address they resolve to, when a delivery connects.
 */
export function destinationUrlProblem(url: URL): string | null {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(host) !== 0) return isPrivateAddress(host) ? PRIVATE_DESTINATION : null;
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || host.endsWith('.local')) return PRIVATE_DESTINATION;
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that fails with EPRIVATEDESTINATION when any resolved address is private. */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    if (list.length === 0 || list.some((a) => isPrivateAddress(a.address))) {
      return callback(Object.assign(new Error(PRIVATE_DESTINATION), { code: 'EPRIVATEDESTINATION' }), []);
    }
    if (options.all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}

/**
 * The fetch deliveries use: with private networks refused, one whose connections only go to
 * public addresses (address literals too: undici looks those up through the same function).
 */
export function destinationFetch(allowPrivateNetworks: boolean): typeof fetch {
  if (allowPrivateNetworks) return globalThis.fetch;
  const dispatcher = new Agent({ connect: { lookup: publicOnlyLookup as never } });
  return ((input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const problem = destinationUrlProblem(url);
    // An address literal is never looked up: refused here, before any connection.
    if (problem) return Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(problem), { code: 'EPRIVATEDESTINATION' }) }));
    return undiciFetch(url, { ...(init as object), dispatcher });
  }) as unknown as typeof fetch;
}
