/**
 * Host matching: which site of a listener answers a request. Pure, no Bun imports.
 *
 * Semantics (tested in tests/unit/router-host.test.ts):
 *  - The Host header is normalised first (normalizeHost): port removed, one trailing dot
 *    removed ("example.com." is the same name, RFC 1034 §3.1), ASCII-lowercased.
 *  - An exact name beats a wildcard, a wildcard beats the default site (the site with
 *    `hosts = []`).
 *  - "*.example.com" matches exactly one extra, non-empty label: "a.example.com", not
 *    "example.com" and not "b.a.example.com". That is how TLS certificates match wildcards
 *    (RFC 6125 §6.4.3), so a site's certificate and its routing agree.
 *  - No match and no default site: lookup() returns null and the engine answers
 *    421 Misdirected Request (NO_SITE, RFC 9110 §15.5.20: "this server is not able to
 *    produce a response for this target URI"). Not 404: the path was never looked at, and a
 *    client (or a connection-coalescing HTTP/2 client) may retry elsewhere.
 *  - Sites sharing a listen address share one table. When two sites claim the same name (or
 *    two default sites share an address) the first in config order wins; the config
 *    validator reports such duplicates.
 */
import type { ListenAddress, SiteConfig } from "../config/config.ts";

/**
 * The key of a listener: `${hostname}:${port}` as configured, an IPv6 hostname without
 * brackets ("::1:8080"; the last colon separates the port). Port 0 (ephemeral) stays 0: the
 * engine looks its table up by the configured address, not the port it was given.
 */
export function listenKey(addr: ListenAddress): string {
  let h = addr.hostname;
  if (h.length >= 2 && h.charCodeAt(0) === 0x5b /* [ */ && h.charCodeAt(h.length - 1) === 0x5d /* ] */) h = h.slice(1, -1);
  return h + ":" + addr.port;
}

/**
 * A Host header value (or absolute-form authority) as a name to match: port removed
 * ("[::1]:8080" → "[::1]", the brackets kept), one trailing dot removed, A-Z lowered (ASCII
 * only: never toLowerCase() on wire bytes). Already-normal names are returned as they are
 * (no allocation on the common path).
 */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  let upper = false;
  if (end > 0 && hostHeader.charCodeAt(0) === 0x5b /* [ */) {
    const close = hostHeader.indexOf("]");
    if (close >= 0) end = close + 1; // IP literal: everything after "]" is the port
    for (let i = 0; i < end; i++) {
      const c = hostHeader.charCodeAt(i);
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
  } else {
    for (let i = 0; i < end; i++) {
      const c = hostHeader.charCodeAt(i);
      if (c === 0x3a /* : */) {
        end = i;
        break;
      }
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
    if (end > 0 && hostHeader.charCodeAt(end - 1) === 0x2e /* . */) end--;
  }
  let h = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  if (upper) h = asciiLowerOnly(h);
  return h;
}

function asciiLowerOnly(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 0x20) : s[i]!;
  }
  return out;
}

/** The sites of one listen address. */
export interface SiteTable {
  /** listenKey() of the address. */
  readonly key: string;
  /** Sites on this address, in config order. */
  readonly sites: readonly SiteConfig[];
  /** The site for a Host header value (normalised here), or null: answer 421 (NO_SITE). */
  lookup(hostHeader: string): SiteConfig | null;
}

class Table implements SiteTable {
  readonly sites: SiteConfig[] = [];
  /** Exact names. */
  readonly exact = new Map<string, SiteConfig>();
  /** Wildcards by the part after "*." ("*.example.com" → "example.com"). */
  readonly wild = new Map<string, SiteConfig>();
  fallback: SiteConfig | null = null;

  constructor(readonly key: string) {}

  add(site: SiteConfig): void {
    this.sites.push(site);
    if (site.hosts.length === 0) {
      this.fallback ??= site;
      return;
    }
    for (const raw of site.hosts) {
      const name = normalizeHost(raw);
      if (name.startsWith("*.")) {
        const suffix = name.slice(2);
        if (!this.wild.has(suffix)) this.wild.set(suffix, site);
      } else if (!this.exact.has(name)) this.exact.set(name, site);
    }
  }

  lookup(hostHeader: string): SiteConfig | null {
    const name = normalizeHost(hostHeader);
    if (name.length > 0) {
      const hit = this.exact.get(name);
      if (hit !== undefined) return hit;
      if (this.wild.size > 0) {
        const dot = name.indexOf(".");
        // One non-empty label before the suffix; an IP literal never matches a wildcard.
        if (dot > 0 && name.charCodeAt(0) !== 0x5b) {
          const w = this.wild.get(name.slice(dot + 1));
          if (w !== undefined) return w;
        }
      }
    }
    return this.fallback;
  }
}

/** One SiteTable per listen address (keyed by listenKey), the sites in config order. */
export function buildSiteTables(sites: readonly SiteConfig[]): Map<string, SiteTable> {
  const tables = new Map<string, Table>();
  for (const site of sites) {
    const seen = new Set<string>();
    for (const addr of site.listen) {
      const key = listenKey(addr);
      if (seen.has(key)) continue; // a site listing one address twice is added once
      seen.add(key);
      let t = tables.get(key);
      if (t === undefined) {
        t = new Table(key);
        tables.set(key, t);
      }
      t.add(site);
    }
  }
  return tables;
}
