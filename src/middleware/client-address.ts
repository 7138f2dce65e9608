/**
 * The client address access rules see (ip_allow / ip_deny, rate_limit's {remote_ip}): the peer
 * of the socket, or, when that peer is one of the route's trusted proxies, the address those
 * proxies report in X-Forwarded-For. Read right to left like nginx `real_ip_recursive on`: each
 * trusted hop vouches for the entry before it, so the first untrusted entry from the right is
 * the client (RFC 7239 §8.1: only fields from known hops are believed; everything left of an
 * untrusted entry may be made up by the client). An entry that is no IP address ends the walk
 * at the last one believed. IPv4-mapped IPv6 is shown as IPv4.
 */
import type { Exchange } from "../handler.ts";
import { isOws } from "../http1/field-syntax.ts";
import { displayIp, parseIp, type TrustedProxies } from "../proxy/cidr.ts";

export function clientAddress(ex: Exchange, trusted: TrustedProxies): string {
  const peer = ex.clientIp;
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const fields = ex.head.headers.getAll("x-forwarded-for");
  if (fields.length === 0) return peer;
  let believed = peer;
  for (let f = fields.length - 1; f >= 0; f--) {
    const entries = fields[f]!.split(",");
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = stripOws(entries[i]!);
      if (parseIp(e) === null) return believed;
      believed = displayIp(e);
      if (!trusted.has(e)) return believed;
    }
  }
  return believed;
}

function stripOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
