/**
 * `security_headers = true` of a route: the preset most sites want, added to every response of
 * the route that does not already carry the field (so a backend's or a response rule's own value
 * wins):
 *   X-Content-Type-Options: nosniff            (no MIME sniffing; Fetch standard §X-Content-Type-Options)
 *   Referrer-Policy: strict-origin-when-cross-origin   (the browsers' default, made explicit)
 *   X-Frame-Options: SAMEORIGIN                (RFC 7034: no framing by other sites)
 * `security_headers = { csp = true }` also adds a permissive Content-Security-Policy that breaks
 * no scripts or styles but forbids framing by other origins, plugins and <base> hijacking:
 *   Content-Security-Policy: frame-ancestors 'self'; object-src 'none'; base-uri 'self'
 * HSTS is not in the preset: it is a per-site option of TLS sites (`hsts`, hstsHeader below),
 * because a wrong Strict-Transport-Security locks browsers out of plain HTTP for months.
 *
 * Prepared header blocks (the static file cache) get the bytes appended without a presence check:
 * the static handler never sets these fields itself.
 */
import type { ResponseHeaders, HeaderPairs, TunnelHandlers, TunnelSide } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { isPrepared } from "../../http1/serialize.ts";
import { ExchangeDecorator, type Middleware } from "../decorator.ts";

export const PRESET: HeaderPairs = [
  ["X-Content-Type-Options", "nosniff"],
  ["Referrer-Policy", "strict-origin-when-cross-origin"],
  ["X-Frame-Options", "SAMEORIGIN"],
];
export const CSP: readonly [string, string] = ["Content-Security-Policy", "frame-ancestors 'self'; object-src 'none'; base-uri 'self'"];

interface Compiled {
  readonly pairs: HeaderPairs;
  readonly lower: readonly string[];
  readonly bytes: Buffer;
  /** Prepared blocks seen last, with the preset appended (the file cache reuses its blocks). */
  lastIn: Uint8Array | null;
  lastOut: { prepared: Uint8Array } | null;
}

/** `headers` with every preset field it lacks appended. */
export function withSecurityHeaders(headers: ResponseHeaders, c: Compiled): ResponseHeaders {
  if (isPrepared(headers)) {
    if (c.lastIn !== headers.prepared) {
      c.lastIn = headers.prepared;
      c.lastOut = { prepared: Buffer.concat([headers.prepared, c.bytes]) };
    }
    return c.lastOut!;
  }
  let present = 0;
  for (const [n] of headers) if (c.lower.includes(asciiLower(n))) present++;
  if (present === 0) return [...headers, ...c.pairs];
  const have = new Set(headers.map(([n]) => asciiLower(n)));
  return [...headers, ...c.pairs.filter(([n]) => !have.has(asciiLower(n)))];
}

class SecurityHeadersExchange extends ExchangeDecorator {
  constructor(
    inner: import("../../handler.ts").Exchange,
    private readonly c: Compiled,
  ) {
    super(inner);
  }
  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.inner.respond(status, withSecurityHeaders(headers, this.c), body);
  }
  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.inner.startResponse(status, withSecurityHeaders(headers, this.c), length);
  }
  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    this.inner.sendError(status, code, withSecurityHeaders(headers ?? [], this.c) as HeaderPairs);
  }
  override upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    return this.inner.upgrade(headers, handlers);
  }
}

export function compileSecurityHeaders(csp: boolean): Compiled {
  return compileAddedHeaders(csp ? [...PRESET, CSP] : PRESET);
}

/** Fields added to every response that lacks them (also used for the site's HSTS field). */
export function compileAddedHeaders(pairs: HeaderPairs): Compiled {
  return {
    pairs,
    lower: pairs.map(([n]) => asciiLower(n)),
    bytes: Buffer.from(pairs.map(([n, v]) => `${n}: ${v}\r\n`).join(""), "latin1"),
    lastIn: null,
    lastOut: null,
  };
}

export function securityHeaders(opts: { csp: boolean }): Middleware {
  const c = compileSecurityHeaders(opts.csp);
  return (next) => (ex) => next(new SecurityHeadersExchange(ex, c));
}

/**
 * A TLS site's `hsts`: Strict-Transport-Security on every response of its routes, unless the
 * response (a backend, a header rule) already has one. Only on a TLS connection: RFC 6797 §7.2
 * forbids it over plain HTTP (the config check already refuses hsts on a plain site).
 */
export function hstsHeader(value: string): Middleware {
  const c = compileAddedHeaders([["Strict-Transport-Security", value]]);
  return (next) => (ex) => next(ex.secure ? new SecurityHeadersExchange(ex, c) : ex);
}
