/**
 * Which trailer fields the proxy forwards (both directions). Pure.
 *
 * RFC 9110 §6.5.1: a sender MUST NOT generate a trailer field unless it knows the field may be
 * sent in trailers, and a recipient MUST NOT merge a trailer into the header section unless it
 * understands it: trailers must not carry what controls framing (Transfer-Encoding,
 * Content-Length), routing (Host), request modifiers (controls and conditionals, §7-§13),
 * authentication (§11), response control data (§15) or content handling (Content-Type,
 * Content-Encoding, Content-Range). Many backends merge trailers into the headers anyway (CGI,
 * some frameworks), so such a field sent after the body would be a late header that no check of
 * ours ever saw: an Authorization, a Host, an X-Forwarded-For that bypasses the trusted-proxy rule.
 *
 * The list starts from Go's net/http `badTrailer` set and adds the forwarding and client-address
 * fields we police in the head, cookies, Upgrade, conditionals and the response control fields.
 * Also dropped: any name with "_" (CGI maps it onto "-", see prepare-request.ts), hop-by-hop
 * fields, and fields the message's Connection header names.
 */
import type { HeaderList } from "../http1/header-list.ts";
import { HOP_BY_HOP, isToken, safeFieldValue } from "./hop-by-hop.ts";

/** Lowercase names never forwarded as trailers (see the file comment). */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  // Go net/http badTrailer
  "authorization",
  "cache-control",
  "connection",
  "content-encoding",
  "content-length",
  "content-range",
  "content-type",
  "expect",
  "host",
  "keep-alive",
  "max-forwards",
  "pragma",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "range",
  "realm",
  "te",
  "trailer",
  "transfer-encoding",
  "www-authenticate",
  // forwarding and client attribution (RFC 7239; de-facto X-* fields)
  "forwarded",
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
  "cf-connecting-ip",
  "via",
  "x-request-id",
  // state, protocol switch, authentication results
  "cookie",
  "set-cookie",
  "upgrade",
  "authentication-info",
  "proxy-authentication-info",
  // response control data (RFC 9110 §15 / §10.2)
  "location",
  "date",
  "age",
  "expires",
  "vary",
  "retry-after",
  "content-location",
  "etag",
  "last-modified",
]);

/**
 * The trailer fields to forward, as [name, value] pairs in received order, original case.
 * `connectionNamed` is connectionNamed(head.headers) of the message the trailers belong to.
 */
export function forwardableTrailers(trailers: HeaderList, connectionNamed: ReadonlySet<string> = NONE): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < trailers.size; i++) {
    const lower = trailers.lowerNames[i]!;
    if (!forwardableTrailerName(lower) || connectionNamed.has(lower)) continue;
    const name = trailers.names[i]!;
    if (!isToken(name)) continue; // the parser guarantees tokens; never emit a broken line
    out.push([name, safeFieldValue(trailers.values[i]!)]);
  }
  return out;
}

/** Whether a trailer field with this lowercase name may be forwarded at all. */
export function forwardableTrailerName(lower: string): boolean {
  if (FORBIDDEN_TRAILERS.has(lower) || HOP_BY_HOP.has(lower)) return false;
  if (lower.indexOf("_") >= 0) return false;
  // Conditionals (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range)
  // and every X-Forwarded-* are decided on the head only.
  if (lower.startsWith("if-") || lower.startsWith("x-forwarded-")) return false;
  return true;
}

const NONE: ReadonlySet<string> = new Set();
