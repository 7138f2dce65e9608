/**
 * Hop-by-hop fields: they describe one connection, not the message, so a proxy must not forward
 * them (RFC 9110 §7.6.1). Shared by request and response preparation.
 */
import type { HeaderList } from "../http1/header-list.ts";

/**
 * The fixed list, lowercase. RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding and Upgrade; Trailer is included as in RFC 2616 §13.5.1 / Go's ReverseProxy
 * (we re-frame bodies, so a Trailer declaration about the old framing does not carry over).
 * Upgrade is put back only for a WebSocket tunnel.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Every field name a Connection header lists (RFC 9110 §7.6.1: "connection options"). */
export function connectionNamed(headers: HeaderList): ReadonlySet<string> {
  // Most messages have no Connection field (HTTP/1.1 keep-alive is the default): no allocation.
  return headers.has("connection") ? new Set(headers.tokens("connection")) : NONE;
}
const NONE: ReadonlySet<string> = new Set();

/** tchar (RFC 9110 §5.6.2): what a field name may consist of. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function isToken(s: string): boolean {
  return TCHAR.test(s);
}

/**
 * RFC 9110 §5.5: CR, LF and NUL inside a field value must be rejected or replaced with SP before
 * forwarding. The parser rejects them already; values we compose ourselves get this as a backstop
 * so no input can ever split a header line.
 */
export function safeFieldValue(v: string): string {
  return /[\r\n\0]/.test(v) ? v.replace(/[\r\n\0]/g, " ") : v;
}

/**
 * Protocol names in an Upgrade value (RFC 9110 §7.8: protocol-name ["/" protocol-version]),
 * lowercased, without versions.
 */
export function upgradeProtocolNames(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(",")) {
    const t = part.trim();
    if (!t) continue;
    const slash = t.indexOf("/");
    out.push((slash >= 0 ? t.slice(0, slash) : t).toLowerCase());
  }
  return out;
}
